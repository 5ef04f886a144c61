"""Detection and the quality gate on real photos: each defect gives its own reason."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bhytgate.face import FaceEngine, FaceError
from bhytgate.face.errors import FaceCutOff, FaceTooSmall, MultipleFaces, NoFace, PoseTooFar, TooBlurred

Read = Callable[[str], bytes]
Reason = Callable[[FaceEngine, bytes], str]


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_group_shots_are_multiple_faces(engine: FaceEngine, read: Read, group_shot: str) -> None:
    with pytest.raises(MultipleFaces) as err:
        engine.analyze(read(group_shot))
    assert err.value.reason == "multiple_faces"


def test_bbt_group_shots_exist(faces_dir: Path, group_shots: tuple[str, ...]) -> None:
    # guard: conftest's GROUP_SHOTS must cover every bbt*.jpg shipped with the data
    shipped = sorted(f"face-api.js/{p.name}" for p in (faces_dir / "face-api.js").glob("bbt*.jpg"))
    assert shipped == [f"face-api.js/bbt{i}.jpg" for i in range(1, 6)]
    assert set(shipped) <= set(group_shots)


@pytest.mark.parametrize(
    "rel",
    [
        "face_recognition/tests/test_images/obama_partial_face.jpg",
        "face_recognition/tests/test_images/obama_partial_face2.jpg",
    ],
)
def test_partial_faces_are_cut_off(engine: FaceEngine, read: Read, rel: str) -> None:
    with pytest.raises(FaceCutOff) as err:
        engine.analyze(read(rel))
    assert err.value.reason == "face_cut_off"


def test_small_face(engine: FaceEngine, read: Read) -> None:
    with pytest.raises(FaceTooSmall) as err:
        engine.analyze(read("face_recognition/examples/obama-240p.jpg"))
    assert err.value.reason == "face_too_small"
    # the same frame at 480p passes: the gate is about pixels on the face, not the person
    assert engine.analyze(read("face_recognition/examples/obama-480p.jpg")).box.height >= 100


def test_rgba_png_is_analysed(engine: FaceEngine, read: Read) -> None:
    analysis = engine.analyze(read("face_recognition/tests/test_images/32bit.png"))
    assert analysis.embedding.shape == (128,) and analysis.embedding.dtype == np.float64


@pytest.mark.parametrize(
    ("rel", "radius"), [("face-api.js/sheldon/sheldon1.png", 3), ("face_recognition/examples/obama.jpg", 6)]
)
def test_blurred_face(engine: FaceEngine, read: Read, reason: Reason, rel: str, radius: int) -> None:
    sharp = Image.open(io.BytesIO(read(rel))).convert("RGB")
    assert reason(engine, _png(sharp)) == "ok"
    with pytest.raises(TooBlurred) as err:
        engine.analyze(_png(sharp.filter(ImageFilter.GaussianBlur(radius))))
    assert err.value.reason == "too_blurred"


@pytest.mark.parametrize("rel", ["face_recognition/examples/biden.jpg", "face-api.js/amy/amy1.png"])
def test_an_underexposed_face_is_too_dark_not_blurred(engine: FaceEngine, read: Read, rel: str) -> None:
    # The Laplacian's variance falls with the square of the contrast: a sharp face at a quarter of
    # its brightness was refused as too_blurred, telling the holder to hold still, not to add light.
    photo = np.asarray(Image.open(io.BytesIO(read(rel))).convert("RGB"), dtype=np.float64)
    dark = Image.fromarray((photo * 0.25).round().astype(np.uint8))
    with pytest.raises(FaceError) as err:
        engine.analyze(_png(dark))
    assert err.value.reason == "too_dark"
    # A blurred face in good light is still too_blurred.
    blurred = Image.fromarray(photo.astype(np.uint8)).filter(ImageFilter.GaussianBlur(4))
    with pytest.raises(TooBlurred):
        engine.analyze(_png(blurred))


def _smear(photo: Image.Image, length: int, vertical: bool = False) -> Image.Image:
    """Linear motion blur: the mean of `length` shifted copies along one axis."""
    pixels = np.asarray(photo.convert("RGB"), dtype=np.float64)
    axis = 0 if vertical else 1
    out = sum(np.roll(pixels, s - length // 2, axis=axis) for s in range(length)) / length
    return Image.fromarray(np.asarray(out).round().astype(np.uint8))


@pytest.mark.parametrize(
    ("rel", "length", "vertical"),
    [
        ("face_recognition/examples/obama.jpg", 45, False),
        ("face_recognition/examples/knn_examples/train/rose_leslie/img1.jpg", 41, False),
        ("face_recognition/examples/knn_examples/train/kit_harington/john2.jpeg", 31, True),
    ],
)
def test_motion_blur_is_too_blurred(
    engine: FaceEngine, read: Read, rel: str, length: int, vertical: bool
) -> None:
    # A smear along one direction leaves the other sharp: the Laplacian's variance passed these,
    # and their embeddings were far from the holder's (FACE_MISMATCH for the genuine holder).
    photo = Image.open(io.BytesIO(read(rel)))
    with pytest.raises(TooBlurred, match="motion blur"):
        engine.analyze(_png(_smear(photo, length, vertical)))


def test_sharp_faces_with_straight_edges_are_not_motion_blur(engine: FaceEngine, read: Read) -> None:
    # A hat's brim or a glasses' frame is one strong straight edge, not a smear.
    rel = "face_recognition/examples/obama.jpg"
    lm = engine.analyze(read(rel)).landmarks
    photo = Image.open(io.BytesIO(read(rel))).convert("RGB")
    draw = ImageDraw.Draw(photo)
    brow, iod = lm[17:27, 1].min(), float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))
    draw.rectangle([lm[:, 0].min() - iod, 0, lm[:, 0].max() + iod, brow - 0.15 * iod], fill=(40, 30, 90))
    for eye in (lm[36:42].mean(0), lm[42:48].mean(0)):
        draw.rectangle(
            [eye[0] - 0.4 * iod, eye[1] - 0.22 * iod, eye[0] + 0.4 * iod, eye[1] + 0.22 * iod],
            fill=(20, 20, 20),
        )
    assert engine.analyze(_png(photo)).quality.isotropy is not None


def test_head_turned_too_far(engine: FaceEngine, read: Read) -> None:
    # stuart5 is the labelled set's hardest turn (the mesh reads -0.45, about 34 degrees).
    with pytest.raises(PoseTooFar) as err:
        engine.analyze(read("face-api.js/stuart/stuart5.png"))
    assert err.value.reason == "pose_too_far"


def test_a_hard_turn_reads_near_the_pose_limit(engine: FaceEngine, read: Read) -> None:
    # In bbt2.jpg the left-hand face is turned hard (dlib's 68 points read +0.56); cropped out
    # alone and enlarged, the mesh reads it at 0.38-0.42 depending on the scale HOG's box came from
    # (a few percent of box size moves the yaw by up to 0.02), i.e. at the gate's 0.40: the gate's
    # decision on it is not asserted, only that it is measured as the hard turn it is.
    group = Image.open(io.BytesIO(read("face-api.js/bbt2.jpg"))).convert("RGB")
    crop = group.crop((30, 90, 240, 290)).resize((420, 400), Image.Resampling.LANCZOS)
    yaw = engine.measure_frame(_png(crop), 0, whole_face=False).yaw
    assert 0.35 <= yaw <= 0.5


def test_no_face(engine: FaceEngine, read: Read) -> None:
    # the wall above Obama's head in the 1080p frame: a real photo with no face in it
    frame = Image.open(io.BytesIO(read("face_recognition/examples/obama-1080p.jpg"))).convert("RGB")
    with pytest.raises(NoFace) as err:
        engine.analyze(_png(frame.crop((0, 0, 640, 170))))
    assert err.value.reason == "no_face"


# The one labelled photo the gate refuses: a hard turn (yaw proxy -0.45 on the mesh, ~34°).
TURNED_AWAY = {"face-api.js/stuart/stuart5.png": "pose_too_far"}


def test_every_labelled_photo_passes_the_gate(analyses: dict[str, object]) -> None:
    failed = {p: a.reason for p, a in analyses.items() if isinstance(a, FaceError)}
    assert failed == TURNED_AWAY


def test_stage_timings_are_reported(analyses: dict[str, object]) -> None:
    for analysis in (a for a in analyses.values() if not isinstance(a, FaceError)):
        t = analysis.timings  # type: ignore[attr-defined]
        assert min(t.decode_ms, t.detect_ms, t.landmarks_ms, t.embed_ms) >= 0.0
        assert t.embed_ms > 0.0


def test_embedding_equals_face_recognitions(engine: FaceEngine, read: Read) -> None:
    """We call dlib directly, but the embedding must be face_recognition's own (library of record)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    data = read("face_recognition/examples/obama.jpg")
    ours = engine.analyze(data)
    image = face_recognition.load_image_file(io.BytesIO(data))
    box = ours.box
    theirs = face_recognition.face_encodings(image, [(box.top, box.right - 1, box.bottom - 1, box.left)])[0]
    assert np.allclose(ours.embedding, theirs, atol=1e-6)


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_tracked_detection_finds_the_face_at_its_previous_size(engine: FaceEngine, read: Read) -> None:
    from bhytgate.face.detect import detect_faces, detect_tracked

    pixels = _pixels(read("face_recognition/examples/obama.jpg"))
    full = detect_faces(engine.models.detector, pixels, engine.config)
    (box,) = full.boxes
    tracked = detect_tracked(engine.models.detector, pixels, engine.config, box.height)
    assert tracked is not None and len(tracked.boxes) == 1
    assert tracked.scale < full.scale  # the cheaper copy
    (seen,) = tracked.boxes
    assert abs(seen.center[0] - box.center[0]) < 0.15 * box.width
    assert abs(seen.height - box.height) < 0.3 * box.height
    # told the face was four times larger, the copy is too small to see it: the caller falls back
    assert detect_tracked(engine.models.detector, pixels, engine.config, 4 * box.height) is None


def test_tracked_detection_still_sees_a_second_person_of_comparable_size(
    engine: FaceEngine, read: Read
) -> None:
    from bhytgate.face.detect import detect_faces, detect_tracked, select_subject

    pixels = _pixels(read("face_recognition/examples/two_people.jpg"))
    largest = max(b.height for b in detect_faces(engine.models.detector, pixels, engine.config).boxes)
    tracked = detect_tracked(engine.models.detector, pixels, engine.config, largest)
    assert tracked is not None
    with pytest.raises(MultipleFaces):
        select_subject(tracked.boxes, engine.config)

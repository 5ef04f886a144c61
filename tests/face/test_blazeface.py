"""BlazeFace proposals and the proposed detection path against HOG's scan, on real photos."""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bhytgate.face import FaceConfig, FaceEngine, FaceError
from bhytgate.face.blazeface import MIN_SCORE
from bhytgate.face.detect import SUSPECT_MARGIN, SUSPECT_SCORE, detect_faces, detect_proposed, select_subject
from bhytgate.face.errors import MultipleFaces
from bhytgate.face.evaluate import LabelledPhoto
from bhytgate_clients.cardlab.camera import capture

Read = Callable[[str], bytes]
Reason = Callable[[FaceEngine, bytes], str]


def _pixels(data: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


@pytest.fixture(scope="module")
def hog_engine() -> FaceEngine:
    return FaceEngine(FaceConfig(detector="hog"))


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def test_one_proposal_per_labelled_face_on_camera_scenes(
    engine: FaceEngine, labelled: list[LabelledPhoto], read: Read
) -> None:
    """Each photo on a random block scene (the card lab's camera): one face, where HOG puts it."""
    rng = random.Random(11)
    counts = []
    for photo in labelled:
        pixels = _pixels(capture(read(photo.path), rng))
        proposals = engine.models.proposer.propose(pixels)
        hog = detect_faces(engine.models.detector, pixels, engine.config).boxes
        counts.append(len(proposals))
        if len(hog) == 1 and proposals:
            assert (
                _iou(
                    hog[0].as_tuple(),
                    (proposals[0].left, proposals[0].top, proposals[0].right, proposals[0].bottom),
                )
                > 0.5
            ), photo.path
    # stuart5 (a hard turn) is the one face HOG misses too; nothing on the scenes is a face.
    assert max(counts) == 1
    assert counts.count(0) <= 1


def test_group_shots_propose_every_face_hog_finds(engine: FaceEngine, read: Read, group_shot: str) -> None:
    pixels = _pixels(read(group_shot))
    hog = detect_faces(engine.models.detector, pixels, engine.config).boxes
    assert len(engine.models.proposer.propose(pixels)) >= len(hog) >= 2


def test_nothing_is_proposed_on_flat_or_noise_images(engine: FaceEngine) -> None:
    rng = np.random.default_rng(3)
    for pixels in (
        np.full((480, 640, 3), 128, dtype=np.uint8),
        rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8),
    ):
        assert engine.models.proposer.propose(pixels) == []
        assert detect_proposed(engine.models.detector, engine.models.proposer, pixels, engine.config) is None


class _CountingHog:
    """dlib's HOG detector, recording the size of every image it scans."""

    def __init__(self, detector: Any) -> None:
        self._detector = detector
        self.scanned: list[int] = []

    def run(self, image: Any, upsample: int, threshold: float) -> Any:
        self.scanned.append(int(image.shape[0] * image.shape[1]) * (4**upsample))
        return self._detector.run(image, upsample, threshold)


def test_hog_scans_only_the_faces_neighbourhood(engine: FaceEngine, faces_dir: Path) -> None:
    """A 1152 x 2048 frame: HOG looks at a copy of the face's surroundings, not at the frame."""
    pixels = _pixels((faces_dir / "face_recognition/examples/obama-720p.jpg").read_bytes())
    counting = _CountingHog(engine.models.detector)
    found = detect_proposed(counting, engine.models.proposer, pixels, engine.config)
    assert found is not None and len(found.boxes) == 1
    hog_alone = _CountingHog(engine.models.detector)
    reference = detect_faces(hog_alone, pixels, engine.config).boxes[0]
    assert _iou(found.boxes[0].as_tuple(), reference.as_tuple()) > 0.7
    assert sum(counting.scanned) * 10 < sum(hog_alone.scanned)


def test_a_face_blazeface_cannot_see_is_still_found_by_hogs_scan(engine: FaceEngine, read: Read) -> None:
    """A 150 px face in a 2100 px frame is 14 px at BlazeFace's 192 px: HOG's scan finds it."""
    with Image.open(io.BytesIO(read("face-api.js/raj/raj1.png"))) as img:
        face = img.convert("RGB")
    canvas = Image.new("RGB", (2100, 1400), (128, 128, 128))
    canvas.paste(face, (1000, 600))
    pixels = np.asarray(canvas, dtype=np.uint8)
    assert detect_proposed(engine.models.detector, engine.models.proposer, pixels, engine.config) is None
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    assert engine.analyze(buf.getvalue()).box.height >= 100


def test_same_decisions_as_hog_on_the_labelled_pairs(
    engine: FaceEngine, hog_engine: FaceEngine, labelled: list[LabelledPhoto], framed_read: Read
) -> None:
    """Every genuine and impostor pair of the framed labelled photos, decided at the threshold:
    the proposed path acquires the same faces and errs no more often than HOG's scan."""

    def errors(e: FaceEngine) -> tuple[list[str], int, int]:
        embedded, refused = [], []
        for photo in labelled:
            try:
                embedded.append((photo.identity, e.analyze(framed_read(photo.path)).embedding))
            except FaceError as exc:
                refused.append(f"{photo.path}:{exc.reason}")
        misses = false_matches = 0
        for (a, x), (b, y) in itertools.combinations(embedded, 2):
            matched = e.match(x, y).matched
            misses += int(a == b and not matched)
            false_matches += int(a != b and matched)
        return refused, misses, false_matches

    refused, misses, false_matches = errors(engine)
    hog_refused, hog_misses, hog_false = errors(hog_engine)
    assert refused == hog_refused
    assert false_matches == hog_false == 0
    assert misses <= hog_misses + 1


def test_two_small_people_in_a_large_frame_are_still_two(engine: FaceEngine, read: Read) -> None:
    """The subject is 8% of the frame's side and a second face 75% of its size: too small for
    BlazeFace to be sure of it (BLAZEFACE_REACH), so HOG's scan decides, and sees both."""
    with (
        Image.open(io.BytesIO(read("face-api.js/raj/raj1.png"))) as a,
        Image.open(io.BytesIO(read("face-api.js/penny/penny1.png"))) as b,
    ):
        subject, other = a.convert("RGB"), b.convert("RGB").resize((112, 112), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (1500, 1000), (128, 128, 128))
    canvas.paste(subject, (400, 400))
    canvas.paste(other, (900, 420))
    pixels = np.asarray(canvas, dtype=np.uint8)
    assert detect_proposed(engine.models.detector, engine.models.proposer, pixels, engine.config) is None
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    with pytest.raises(MultipleFaces):
        engine.analyze(buf.getvalue())


def _scene(size: tuple[int, int], rng: random.Random) -> Image.Image:
    grid = Image.new("L", (10, 10))
    grid.putdata([rng.choice((0, 255)) if rng.random() < 0.5 else rng.randrange(256) for _ in range(100)])
    return Image.merge("RGB", [grid, grid, grid]).resize(size, Image.Resampling.NEAREST)


# Real photos composed into two-person scenes (each photo's largest HOG face is what is placed).
_TWO_PERSON_PHOTOS = (
    "face_recognition/examples/obama.jpg",
    "face_recognition/examples/biden.jpg",
    "face_recognition/examples/alex-lacamoire.png",
    "face_recognition/examples/lin-manuel-miranda.png",
    "face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg",
    "face_recognition/examples/knn_examples/train/rose_leslie/img1.jpg",
    "face_recognition/examples/knn_examples/test/johnsnow_test1.jpg",
    "face-api.js/penny/penny3.png",
    "face-api.js/stuart/stuart4.png",
    "face-api.js/raj/raj4.png",
    "face-api.js/howard/howard3.png",
    "face-api.js/bernadette/bernadette2.png",
)
Placeable = dict[str, tuple[Image.Image, Any]]


@pytest.fixture(scope="module")
def placeable(engine: FaceEngine, read: Read) -> Placeable:
    det, cfg = engine.models.detector, engine.config
    faces = {}
    for rel in _TWO_PERSON_PHOTOS:
        pixels = _pixels(read(rel))
        faces[rel] = (
            Image.fromarray(pixels),
            max(detect_faces(det, pixels, cfg).boxes, key=lambda b: b.height),
        )
    return faces


def _place(canvas: Image.Image, faces: Placeable, rel: str, height: float, cx: float, cy: float) -> None:
    """Paste the photo scaled so its face is `height` px of HOG box, centred at (cx, cy)."""
    img, box = faces[rel]
    s = height / box.height
    img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
    canvas.paste(img, (round(cx - box.center[0] * s), round(cy - box.center[1] * s)))


def _refused(boxes: tuple[Any, ...], cfg: FaceConfig) -> bool:
    try:
        select_subject(boxes, cfg)
    except MultipleFaces:
        return True
    return False


def _judged(engine: FaceEngine, pixels: np.ndarray[Any, np.dtype[np.uint8]]) -> tuple[bool, bool]:
    """(HOG's scan refuses the frame as two people, the proposed path accepts it as one)."""
    det, cfg = engine.models.detector, engine.config
    if not _refused(detect_faces(det, pixels, cfg).boxes, cfg):
        return False, False
    proposed = detect_proposed(det, engine.models.proposer, pixels, cfg)
    return True, proposed is not None and not _refused(proposed.boxes, cfg)


def test_a_second_person_blazeface_is_unsure_of_is_still_refused(
    engine: FaceEngine, placeable: Placeable
) -> None:
    """Two real photos side by side in 1280 x 720 camera-like scenes, the second face 62-100% of the
    subject's size. Where HOG's scan refuses the frame as two people, the proposed path must too:
    before SUSPECT_SCORE, BlazeFace scored one face of 7 of 60 such frames below MIN_SCORE (or the
    subject itself, proposing the smaller face as the subject) and they were accepted as one face."""
    rng = random.Random(21)
    two = missed = 0
    for _ in range(40):
        subject, other = rng.sample(_TWO_PERSON_PHOTOS, 2)
        size = rng.uniform(0.28, 0.5) * 720
        canvas = _scene((1280, 720), rng)
        _place(
            canvas, placeable, other, size * rng.uniform(0.62, 1.0), 1280 * 0.76, 720 * rng.uniform(0.35, 0.6)
        )
        _place(canvas, placeable, subject, size, 1280 * 0.3, 720 * rng.uniform(0.4, 0.6))
        scan_refuses, proposed_accepts = _judged(engine, np.asarray(canvas, dtype=np.uint8))
        two += scan_refuses
        missed += scan_refuses and proposed_accepts
    assert two >= 15
    # What remains are faces BlazeFace does not propose even at SUSPECT_SCORE.
    assert missed <= 2, f"{missed} of {two} two-person frames accepted"


def test_a_second_person_cut_by_the_frames_edge_is_still_refused(
    engine: FaceEngine, placeable: Placeable
) -> None:
    """1080p camera-like scenes: a subject of 15-50% of the height, a second face of 62-100% of its
    size 10-45% outside the frame on one side. Where HOG's scan refuses the frame, the proposed path
    must mostly refuse it too. Before the edge rules (EDGE_SUSPECT_SCORE, EDGE_CONFIRM_THRESHOLD,
    EDGE_REACH) it accepted 86 of 465 such frames over 7 seeds (review, 2026-12-03: BlazeFace scores
    a cut face 0.03-0.1 and boxes only what is inside; HOG on its neighbourhood finds it under its
    threshold); with them 32, faces BlazeFace does not propose even at 0.03. This seed: 9 of 23
    before, 3 after."""
    width, height = 1920, 1080
    rng = random.Random("edge-cut-7")
    two = missed = 0
    for _ in range(60):
        subject, other = rng.sample(_TWO_PERSON_PHOTOS, 2)
        size = rng.uniform(0.15, 0.5) * height
        second = size * rng.uniform(0.62, 1.0)
        outside = rng.uniform(0.1, 0.45) - 0.5  # the second face's centre past the edge, in sizes
        canvas = _scene((width, height), rng)
        side = rng.choice("lrtb")
        along = rng.uniform(0.3, 0.7)
        cx, cy = {
            "l": (-second * outside, height * along),
            "r": (width + second * outside, height * along),
            "t": (width * along, -second * outside),
            "b": (width * along, height + second * outside),
        }[side]
        _place(canvas, placeable, other, second, cx, cy)
        # The subject on the far side from the cut face.
        sx = width * (0.3 if cx > width / 2 else 0.7)
        sy = height * (0.5 if side in "lr" else (0.3 if cy > height / 2 else 0.7))
        _place(canvas, placeable, subject, size, sx, sy)
        scan_refuses, proposed_accepts = _judged(engine, np.asarray(canvas, dtype=np.uint8))
        two += scan_refuses
        missed += scan_refuses and proposed_accepts
    assert two >= 20
    assert missed <= 0.2 * two, f"{missed} of {two} edge-cut two-person frames accepted"


def test_a_burst_frame_blazeface_cannot_decide_takes_the_tracked_pass(engine: FaceEngine, read: Read) -> None:
    """A 1080p frame with a 180 px face is in BLAZEFACE_REACH's band (HOG's scan decides): a burst
    frame after the first then scans the tracked copy, as detector = "hog" does, not the frame."""
    with Image.open(io.BytesIO(read("face-api.js/raj/raj1.png"))) as img:
        face = img.convert("RGB").resize((216, 216), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (1920, 1080), (128, 128, 128))
    canvas.paste(face, (850, 430))
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    frame = buf.getvalue()
    pixels = np.asarray(canvas, dtype=np.uint8)
    assert detect_proposed(engine.models.detector, engine.models.proposer, pixels, engine.config) is None
    hog = engine.models.detector
    counting = _CountingHog(hog)
    engine.models.detector = counting
    try:
        first, located = engine._measure(frame, 0)
        full_scan = sum(counting.scanned)
        counting.scanned.clear()
        engine._measure(frame, 400, located.box)
        tracked = sum(counting.scanned)
    finally:
        engine.models.detector = hog
    assert first.box is not None
    assert 0 < tracked * 2 < full_scan


def test_near_the_size_gate_the_decision_is_the_scans(
    engine: FaceEngine, hog_engine: FaceEngine, labelled: list[LabelledPhoto], read: Read, reason: Reason
) -> None:
    """Faces whose HOG box is about min_face_px high: never face_too_small where HOG's scan
    accepts (its box size steps with the pyramid scale it was found at; SIZE_GATE_BAND)."""

    photos = [p.path for p in labelled if p.path.startswith("face-api.js/")][:12]
    decisions = []
    for rel in photos:
        with Image.open(io.BytesIO(read(rel))) as img:
            face = img.convert("RGB")
        for side in (112, 120, 128):
            canvas = Image.new("RGB", (640, 480), (128, 128, 128))
            canvas.paste(face.resize((side, side), Image.Resampling.LANCZOS), (260, 180))
            buf = io.BytesIO()
            canvas.save(buf, "PNG")
            decisions.append((reason(engine, buf.getvalue()), reason(hog_engine, buf.getvalue())))
    assert not [d for d in decisions if d == ("face_too_small", "ok")]
    assert {"ok", "face_too_small"} <= {a for a, _ in decisions}  # the sizes straddle the gate


def test_a_suspect_hog_sees_no_face_around_is_nobody(engine: FaceEngine, read: Read) -> None:
    """A one-person camera scene where BlazeFace scores a patch of the background below MIN_SCORE
    at a second person's size: HOG finds no face around it, so the proposed path decides (before
    MAX_SUSPECTS' change such a frame paid HOG's ~65 ms scan), and decides as the scan does."""
    with Image.open(io.BytesIO(read("face_recognition/examples/knn_examples/train/biden/biden2.jpg"))) as src:
        img = src.convert("RGB")
    rng = random.Random("suspect-12")
    canvas = _scene((1280, 720), rng)
    s = 720 / img.height * rng.uniform(0.5, 0.9)
    img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
    canvas.paste(img, (rng.randrange(0, 1280 - img.width + 1), rng.randrange(0, 720 - img.height + 1)))
    pixels = np.asarray(canvas, dtype=np.uint8)
    det, cfg, proposer = engine.models.detector, engine.config, engine.models.proposer
    candidates = proposer.propose(pixels, SUSPECT_SCORE)
    main = max((p for p in candidates if p.score >= MIN_SCORE), key=lambda p: p.size)
    suspects = [
        p
        for p in candidates
        if p.score < MIN_SCORE
        and p.size >= SUSPECT_MARGIN * cfg.secondary_face_ratio * main.size
        and abs(p.center[0] - main.center[0]) > main.size
    ]
    assert suspects  # the scene still holds what used to send the frame to the scan
    proposed = detect_proposed(det, proposer, pixels, cfg)
    assert proposed is not None
    scanned = select_subject(detect_faces(det, pixels, cfg).boxes, cfg)
    subject = select_subject(proposed.boxes, cfg)
    assert _iou(subject.as_tuple(), scanned.as_tuple()) > 0.6

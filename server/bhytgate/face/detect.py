"""Face detection and the quality gate.

The box every later step is taken on (dlib's 5 points, the mesh's square, the ResNet's chip) is
always dlib's HOG box: the 5-point model and the ResNet were trained on such boxes. Two ways to find
it:

- ``detect_proposed`` (``detector = "blazeface"``, the default): BlazeFace finds the faces in the
  whole frame; HOG confirms the subject on a small copy of its neighbourhood only; the other faces
  are judged by BlazeFace's sizes. About 5 + 3 ms a frame instead of a HOG scan of the frame.
- ``detect_faces`` (``detector = "hog"``, and whenever BlazeFace finds nothing or HOG does not
  confirm it): HOG on a downscaled copy, a cheap pass at upsample 0 and a finer pass only when the
  cheap pass found nothing or could have missed a second face of comparable size.

Boxes are in full-resolution pixels, where landmarks and the embedding are taken. The CNN detector
is never used here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from bhytgate.face.blazeface import MIN_SCORE, Proposal
from bhytgate.face.config import FaceConfig
from bhytgate.face.errors import (
    FaceCutOff,
    FaceTooSmall,
    MultipleFaces,
    NoFace,
    PoseTooFar,
    TooBlurred,
    TooDark,
)
from bhytgate.face.landmarks import Landmarks, inner_edge_margin, yaw_proxy

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Box:
    """A face box in full-resolution pixel coordinates; may extend past the frame edge."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)


@dataclass(frozen=True, slots=True)
class Detection:
    boxes: tuple[Box, ...]
    upsample: int  # 0: the cheap pass sufficed; 1: a finer pass ran
    scale: float  # size of the copy the boxes came from / full size


def _resized(pixels: Pixels, scale: float) -> Pixels:
    if scale == 1.0:
        return pixels
    height, width = pixels.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    out = Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(out, dtype=np.uint8)


def downscale(pixels: Pixels, max_side: int) -> tuple[Pixels, float]:
    height, width = pixels.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    return _resized(pixels, scale), scale


def _run_hog(
    detector: Any, image: Pixels, upsample: int, scale: float, threshold: float = 0.0
) -> tuple[Box, ...]:
    rects, _scores, _kinds = detector.run(image, upsample, threshold)
    return tuple(
        Box(
            round(r.left() / scale),
            round(r.top() / scale),
            round((r.right() + 1) / scale),
            round((r.bottom() + 1) / scale),
        )
        for r in rects
    )


def detect_faces(detector: Any, pixels: Pixels, config: FaceConfig) -> Detection:
    """HOG on a downscaled copy; a finer pass only when the cheap one cannot be trusted.

    The cheap pass (upsample 0) cannot see faces smaller than one HOG window in the copy. If it found
    nothing, the finer pass is dlib's 2x upsample. If it found a face so small that a second face of
    comparable size (``secondary_face_ratio``) would fall under the window, the copy is enlarged just
    enough for such a face to be seen (at most x2), which costs far less than
    a 2x upsample. Large faces, the usual case at a counter, need one cheap pass only.
    """
    small, scale = downscale(pixels, config.detect_max_side)
    boxes = _run_hog(detector, small, 0, scale)
    if not boxes:
        fine = _run_hog(detector, small, 1, scale)
        return Detection(boxes=fine, upsample=1, scale=scale)
    largest = max(b.height for b in boxes) * scale  # in the copy's pixels
    smallest_that_matters = largest * config.secondary_face_ratio
    if smallest_that_matters < config.hog_window_px:
        # hog_window_px is already a measured detection size (68 px found as often as 80-90 px),
        # so no extra margin: the enlarged pass is the most expensive step of a desk check.
        factor = min(2.0, config.hog_window_px / smallest_that_matters)
        finer = _run_hog(detector, _resized(pixels, scale * factor), 0, scale * factor)
        if len(finer) >= len(boxes):
            return Detection(boxes=finer, upsample=1, scale=scale * factor)
    return Detection(boxes=boxes, upsample=0, scale=scale)


def detect_tracked(detector: Any, pixels: Pixels, config: FaceConfig, face_px: float) -> Detection | None:
    """Detection in a frame of a burst whose previous frame had a face `face_px` high.

    The face cannot change size much between consecutive frames (the liveness check refuses a
    jump of more than max_scale_jump), so one pass on a copy where such a face is
    ``track_face_px`` high is enough: far smaller than the copy `detect_faces` needs to rule out
    every second face of 60% of its size. A second face of at least hog_window_px /
    track_face_px (68/90, about 3/4) of the subject's size still shows up, so `select_subject`
    still refuses two people of comparable size; the burst's first frame had the full 60% check.
    None when nothing was found there: the caller then runs the full `detect_faces`.
    """
    if face_px <= 0:
        return None
    height, width = pixels.shape[:2]
    scale = min(1.0, config.track_face_px / face_px, config.detect_max_side / max(height, width))
    boxes = _run_hog(detector, _resized(pixels, scale), 0, scale)
    return Detection(boxes=boxes, upsample=0, scale=scale) if boxes else None


# HOG looks for the subject in a square of this many proposal sizes around BlazeFace's box, on a copy
# where the face is CONFIRM_FACE_PX high (the tracked pass's size, FaceConfig.track_face_px's
# default; enlarged up to CONFIRM_MAX_ZOOM for small faces, as HOG's upsampled pass would).
# Measured on the bench's framed captures (110 frames, median 318 px wide): 4.8 ms a frame, against
# 9.4 ms on the scan's own grid and 37 ms for the scan; HOG's box varies by a few percent with the
# scale it is found at either way, and the decisions on the labelled pairs are the same
# (tests/face/test_blazeface.py). The square was 2 sizes wide; 1.5 confirmed every one of 349
# subjects (bench captures and shared photos) as 2 did, in 2.0 ms against 3.0 ms a frame on the
# Intel VM (2026-12-01), HOG's box one pyramid step (x1.2) apart from 2's in about 1 in 10.
CONFIRM_REGION = 1.5
CONFIRM_FACE_PX = 90.0
CONFIRM_MAX_ZOOM = 2.0
# The HOG box must be centred within this many proposal sizes of BlazeFace's box: another face in
# the square (a neighbour's) does not confirm this one.
CONFIRM_MAX_OFFSET = 0.35
# The smallest face BlazeFace finds reliably, as a share of the frame's longer side: measured with the
# shared 150 px crops pasted on grey 4:3 frames, faces of 6% were found in 38/40, 8-9% in 39/40
# (10-12% dipped to 30-34/40; those subjects go to HOG's scan, which costs time, not a face; on the
# card lab's block scenes far more are missed: a lone face at 10% of the height in 29/55). When a
# second face of comparable size (secondary_face_ratio of the subject) would be smaller than this,
# HOG's scan decides instead, so the multiple-faces rule keeps its reach.
BLAZEFACE_REACH = 0.07
# BlazeFace scores a second face of comparable size below MIN_SCORE, or misses the subject itself
# and proposes the smaller face, in about one two-person frame in ten (review: 23 of 215 camera-like
# frames whose HOG scan holds a second face of >= 60%, 640-1920 px, were accepted as one face). So
# proposals are also read down to SUSPECT_SCORE, and its size ratio to HOG's box varies by face
# (0.81-1.40 measured), so a face within SUSPECT_MARGIN of the comparable size is also in doubt: in
# either case HOG's scan decides. Measured: 19 of those 23 frames then refused, 2 of 165 one-face
# frames sent to the scan.
SUSPECT_SCORE = 0.1
SUSPECT_MARGIN = 0.8
# A face cut by the frame's edge scores lower with both detectors (review, 2026-12-03): BlazeFace
# scored such second faces 0.03-0.1 and boxed only what is inside the frame (half to two thirds of
# HOG's box), and HOG found them on their neighbourhood only under its own threshold (-0.5 to -0.65,
# where its scan of the whole frame found them at 0 at some pyramid scales). So candidates are read
# down to EDGE_SUSPECT_SCORE when their box leaves the frame (every candidate when the subject's
# does: BlazeFace then missed the subject itself), a cut one counts as up to EDGE_REACH times its
# box (region, offset and size), and suspects under SUSPECT_SCORE or cut are confirmed down to
# EDGE_CONFIRM_THRESHOLD. Measured on 465 camera-like two-person frames of 1920 x 1080 and 1280 x
# 1080 that HOG's scan refuses, the second face 10-45% outside: 86 accepted before, 32 after (faces
# BlazeFace does not propose even at 0.03); floor A/B 51.3 -> 52.5 ms (within its noise); 71
# close-ups with the subject's chin or mouth cut: the same decisions, 7.8 ms a frame either way.
EDGE_SUSPECT_SCORE = 0.03
EDGE_CONFIRM_THRESHOLD = -0.7
EDGE_REACH = 2.0
# A suspect goes to HOG's scan only when HOG, on the suspect's own neighbourhood (as it confirms the
# subject), sees a face there. Measured (2026-12-03, Zen 5 VM): in 134 two-person scenes of 640-1920
# px that the scan refuses, all 32 suspects were confirmed so (the scan then decided, as before:
# the same 9 accepted); in 985 frames of the load bench, 11 went to the scan for a suspect HOG could
# not confirm, the scan found no second face in any, and the frame's detection fell from 6.4 to 6.0
# ms on average (a scan is ~65 ms: these frames were the floor's tail). More than MAX_SUSPECTS such
# candidates (a frame crafted with face-like patterns) go to the scan without confirming each.
MAX_SUSPECTS = 3
# HOG's box height moves in steps of its pyramid (x1.2) with the scale a face is found at, so the
# confirm pass and the scan can put one face on either side of min_face_px: measured on 161 framed
# labelled photos, confirm/scan height ratios 0.87-1.15 (10th-90th percentile), and in the full
# bench 22 of 1,706 genuine desk checks were told to come closer (face_too_small) where the scan
# had accepted every one. A subject up to this factor under the gate is left to the scan (a refusal
# is the scan's to make). Not above it: the bench's liveness faces are ~120 px, and sending those to
# the scan raised the mean check by 9 ms; one the scan would have put just under the gate then
# passes, as it would have a frame later.
SIZE_GATE_BAND = 1.25


def _confirm(
    detector: Any,
    pixels: Pixels,
    proposal: Proposal,
    config: FaceConfig,
    threshold: float = 0.0,
    reach: float = 1.0,
) -> Box | None:
    """dlib's HOG box of the face BlazeFace proposed, from HOG on that face's neighbourhood only
    (`reach` times the proposal's size around it, for a proposal that may be part of a face)."""
    height, width = pixels.shape[:2]
    cx, cy = proposal.center
    half = proposal.size * reach * CONFIRM_REGION / 2.0
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    zoom = min(CONFIRM_MAX_ZOOM, CONFIRM_FACE_PX / max(1.0, proposal.size))
    region = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    found = _run_hog(detector, _resized(region, zoom), 0, zoom, threshold)
    best: Box | None = None
    best_offset = CONFIRM_MAX_OFFSET * proposal.size * reach
    for b in found:
        bx, by = b.center
        offset = float(np.hypot(bx + x0 - cx, by + y0 - cy))
        if offset <= best_offset:
            best, best_offset = b, offset
    if best is None:
        return None
    return Box(best.left + x0, best.top + y0, best.right + x0, best.bottom + y0)


def _cut_by_edge(p: Proposal, width: int, height: int) -> bool:
    """BlazeFace's box leaves the frame: the face is cut by its edge."""
    return p.left < 0 or p.top < 0 or p.right > width or p.bottom > height


def detect_proposed(
    detector: Any, proposer: Any, pixels: Pixels, config: FaceConfig, *, image: Image.Image | None = None
) -> Detection | None:
    """BlazeFace finds the faces, HOG confirms the largest on its neighbourhood (dlib's box for it).

    The other faces keep BlazeFace's boxes, rescaled by the subject's HOG/BlazeFace size ratio, so
    that `select_subject` judges "a second face of comparable size" on one scale. None (the caller
    then runs HOG's scan, so whatever it would find is still found, at its cost) when BlazeFace
    finds nothing; when HOG does not confirm the subject; when the subject is just under the size
    gate (SIZE_GATE_BAND); when it is so small in the frame that a comparable second face could
    escape BlazeFace (BLAZEFACE_REACH); or when BlazeFace is unsure of a face that could be a
    comparable second person (SUSPECT_SCORE, SUSPECT_MARGIN; lower and wider for a face cut by the
    frame's edge, EDGE_*) and HOG sees a face around it (MAX_SUSPECTS)."""
    height, width = pixels.shape[:2]
    read: list[Proposal] = proposer.propose(pixels, min(SUSPECT_SCORE, EDGE_SUSPECT_SCORE), image=image)
    proposals = [p for p in read if p.score >= MIN_SCORE]
    if not proposals:
        return None
    main = max(proposals, key=lambda p: p.size)
    subject_cut = _cut_by_edge(main, width, height)
    candidates = [
        p for p in read if p.score >= SUSPECT_SCORE or subject_cut or _cut_by_edge(p, width, height)
    ]
    box = _confirm(detector, pixels, main, config)
    if box is None:
        return None
    if config.min_face_px / SIZE_GATE_BAND <= box.height < config.min_face_px:
        # Just under the size gate, HOG's box size depends on the scale it was found at (its
        # pyramid steps by 1.2): let the scan's own scales decide, as with detector = "hog".
        return None
    if (
        config.min_face_px
        <= box.height
        < BLAZEFACE_REACH * max(pixels.shape[:2]) / config.secondary_face_ratio
    ):
        # A second face of comparable size could be too small for BlazeFace to see. (A subject
        # under min_face_px is refused as too small whatever else is in the frame.)
        return None
    ratio = box.height / max(1.0, main.size)
    others = []
    suspects = 0
    for p in candidates:
        cx, cy = p.center
        if p is main or (box.left <= cx <= box.right and box.top <= cy <= box.bottom):
            # Centred on the subject's face: a second look at it (BlazeFace's boxes of a small
            # face are unsteady), never a second person.
            continue
        comparable = p.size * ratio >= config.secondary_face_ratio * box.height
        cut = _cut_by_edge(p, width, height)
        reach = EDGE_REACH if cut else 1.0
        if p.size * reach >= SUSPECT_MARGIN * config.secondary_face_ratio * main.size and (
            p.score < MIN_SCORE or not comparable
        ):
            # Perhaps a second person (or the real subject) BlazeFace is unsure of. Where HOG sees
            # a face around it, HOG's scan decides; where it sees none, nobody is there (MAX_SUSPECTS).
            suspects += 1
            threshold = EDGE_CONFIRM_THRESHOLD if cut or p.score < SUSPECT_SCORE else 0.0
            if suspects > MAX_SUSPECTS or _confirm(detector, pixels, p, config, threshold, reach) is not None:
                return None
        if p.score < MIN_SCORE:
            continue
        half = p.size * ratio / 2.0
        others.append(Box(round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return Detection(boxes=(box, *others), upsample=0, scale=1.0)


def select_subject(boxes: tuple[Box, ...], config: FaceConfig) -> Box:
    """The one face to analyse; a second face of comparable size means a second person."""
    if not boxes:
        raise NoFace("no face found")
    ordered = sorted(boxes, key=lambda b: b.height, reverse=True)
    main = ordered[0]
    others = [b for b in ordered[1:] if b.height >= config.secondary_face_ratio * main.height]
    if others:
        raise MultipleFaces(f"{len(others) + 1} faces of comparable size")
    return main


def _face_gray(pixels: Pixels, box: Box) -> npt.NDArray[np.float64] | None:
    """The face, grey, resized to 128 px wide; None when the box is (nearly) outside the frame."""
    height, width = pixels.shape[:2]
    left, top = max(0, box.left), max(0, box.top)
    right, bottom = min(width, box.right), min(height, box.bottom)
    if right - left < 8 or bottom - top < 8:
        return None
    face = Image.fromarray(pixels[top:bottom, left:right]).convert("L")
    target = (128, max(8, round(128 * (bottom - top) / (right - left))))
    return np.asarray(face.resize(target, Image.Resampling.BILINEAR), dtype=np.float64)


def sharpness(pixels: Pixels, box: Box) -> float:
    """Variance of the Laplacian over the face, resized to 128 px wide so that it does not scale."""
    gray = _face_gray(pixels, box)
    if gray is None:
        return 0.0
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


def blur_isotropy(pixels: Pixels, box: Box) -> float:
    """How evenly the face's fine detail spreads over directions (FaceConfig.min_blur_isotropy):
    the smaller of weaker / stronger mean absolute second derivative between the horizontal and
    vertical directions and between the two diagonals, on the face resized to 128 px wide. Near 1
    for a sharp face, lower for one smeared along a direction (motion blur). Mean absolute values,
    not variances: one strong straight edge (a hat's brim) must not read as a smear."""
    gray = _face_gray(pixels, box)
    if gray is None:
        return 0.0
    c = 2.0 * gray[1:-1, 1:-1]
    energy = [
        float(np.abs(gray[1:-1, :-2] + gray[1:-1, 2:] - c).mean()),
        float(np.abs(gray[:-2, 1:-1] + gray[2:, 1:-1] - c).mean()),
        float(np.abs(gray[:-2, :-2] + gray[2:, 2:] - c).mean()),
        float(np.abs(gray[:-2, 2:] + gray[2:, :-2] - c).mean()),
    ]
    ratios = [min(a, b) / max(a, b) if max(a, b) > 0 else 1.0 for a, b in (energy[:2], energy[2:])]
    return min(ratios)


# A face whose brightest 5% of pixels are under this grey level (0-255) is underexposed. Measured
# on the face boxes of the 54 labelled photos that pass the gate: 134 and up (median 203); a
# Gaussian blur keeps it (>= 134); the same photos darkened to 25% of their brightness: at most 60.
# Only names the reason of a face the blur gate refuses (too_dark, not too_blurred): it accepts
# or refuses nothing by itself.
DARK_FACE_P95 = 96.0


def face_brightness(pixels: Pixels, box: Box) -> float:
    """The 95th percentile of the face's grey levels (0-255)."""
    gray = _face_gray(pixels, box)
    return 0.0 if gray is None else float(np.percentile(gray, 95))


@dataclass(frozen=True, slots=True)
class Quality:
    face_px: int
    edge_margin: float
    sharpness: float
    yaw: float
    isotropy: float | None = None  # blur_isotropy, when the blur gate ran


def check_quality(
    box: Box,
    landmarks: Landmarks,
    sharp: float,
    width: int,
    height: int,
    config: FaceConfig,
    *,
    check_pose: bool = True,
    check_blur: bool = True,
    brightness: float | None = None,
    isotropy: float | None = None,
) -> Quality:
    """Apply the gate in a fixed order, so a face that fails several ways always reports the same one."""
    quality = Quality(
        face_px=box.height,
        edge_margin=inner_edge_margin(landmarks, width, height),
        sharpness=sharp,
        yaw=yaw_proxy(landmarks),
        isotropy=isotropy,
    )
    if quality.edge_margin < config.edge_margin:
        raise FaceCutOff("face features reach the edge of the frame")
    if quality.face_px < config.min_face_px:
        raise FaceTooSmall(f"face is {quality.face_px} px high, needs {config.min_face_px}")
    if check_blur and quality.sharpness < config.min_sharpness:
        if brightness is not None and brightness < DARK_FACE_P95:
            raise TooDark("face is too dark (underexposed): add light in front of the face")
        raise TooBlurred("face is too blurred")
    if check_blur and isotropy is not None and isotropy < config.min_blur_isotropy:
        raise TooBlurred("face is smeared in one direction (motion blur): hold still")
    if check_pose and abs(quality.yaw) > config.max_yaw:
        raise PoseTooFar("head turned too far from frontal")
    return quality

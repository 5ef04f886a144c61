"""Face detection (HOG only) and the quality gate.

Detection runs on a downscaled copy: a cheap pass at upsample 0, and a finer pass only when the
cheap pass found nothing or could have missed a second face of comparable size. The boxes are mapped
back to full resolution, where landmarks and the embedding are taken. The CNN detector is never used
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from bhytgate.face.config import FaceConfig
from bhytgate.face.errors import (
    FaceCutOff,
    FaceTooSmall,
    MultipleFaces,
    NoFace,
    PoseTooFar,
    TooBlurred,
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


def _run_hog(detector: Any, image: Pixels, upsample: int, scale: float) -> tuple[Box, ...]:
    rects, _scores, _kinds = detector.run(image, upsample, 0.0)
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


def sharpness(pixels: Pixels, box: Box) -> float:
    """Variance of the Laplacian over the face, resized to 128 px wide so that it does not scale."""
    height, width = pixels.shape[:2]
    left, top = max(0, box.left), max(0, box.top)
    right, bottom = min(width, box.right), min(height, box.bottom)
    if right - left < 8 or bottom - top < 8:
        return 0.0
    face = Image.fromarray(pixels[top:bottom, left:right]).convert("L")
    target = (128, max(8, round(128 * (bottom - top) / (right - left))))
    gray = np.asarray(face.resize(target, Image.Resampling.BILINEAR), dtype=np.float64)
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


@dataclass(frozen=True, slots=True)
class Quality:
    face_px: int
    edge_margin: float
    sharpness: float
    yaw: float


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
) -> Quality:
    """Apply the gate in a fixed order, so a face that fails several ways always reports the same one."""
    quality = Quality(
        face_px=box.height,
        edge_margin=inner_edge_margin(landmarks, width, height),
        sharpness=sharp,
        yaw=yaw_proxy(landmarks),
    )
    if quality.edge_margin < config.edge_margin:
        raise FaceCutOff("face features reach the edge of the frame")
    if quality.face_px < config.min_face_px:
        raise FaceTooSmall(f"face is {quality.face_px} px high, needs {config.min_face_px}")
    if check_blur and quality.sharpness < config.min_sharpness:
        raise TooBlurred("face is too blurred")
    if check_pose and abs(quality.yaw) > config.max_yaw:
        raise PoseTooFar("head turned too far from frontal")
    return quality

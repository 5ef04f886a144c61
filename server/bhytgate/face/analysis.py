"""What the face engine returns and passes between its steps: timings, one photo's analysis, the
chip photo's reference, and a located face (with the crop every later step works on)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bhytgate.face.decode import DecodedImage
from bhytgate.face.detect import Box, Detection, Quality
from bhytgate.face.embed import Embedding
from bhytgate.face.landmarks import Landmarks
from bhytgate.face.liveness import FrameFingerprint

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class StageTimings:
    decode_ms: float
    detect_ms: float
    landmarks_ms: float  # landmarks and the quality gate
    embed_ms: float
    second_embed_ms: float = 0.0  # the second matcher (alignment + SFace), when on


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    embedding: Embedding  # float64, shape (128,)
    landmarks: Landmarks  # (68, 2), full-resolution pixels
    box: Box
    image_width: int
    image_height: int
    quality: Quality
    detection_upsample: int
    timings: StageTimings
    fingerprint: FrameFingerprint | None = None
    second_embedding: npt.NDArray[np.float64] | None = None  # SFace, when the second matcher is on


@dataclass(frozen=True, slots=True)
class ChipReference:
    """The chip photo's embeddings: dlib's, and the second matcher's when it is on."""

    embedding: Embedding
    second: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True, slots=True)
class Located:
    decoded: DecodedImage
    detection: Detection
    box: Box
    crop: Pixels  # face with a margin, full resolution
    crop_box: Box  # the face box in crop coordinates
    origin: tuple[int, int]  # the crop's top-left corner in the full image
    shape5: Any  # dlib's 5 points in the crop (found for the mesh, reused to embed), or None
    landmarks: Landmarks
    quality: Quality
    decode_ms: float
    detect_ms: float
    landmarks_ms: float


def crop_face(pixels: Pixels, box: Box, margin: float = 0.75) -> tuple[Pixels, int, int]:
    """The face plus ``margin`` x its size on each side: enough for 68 landmarks and dlib's 0.25-padded
    aligned chip even with the head rolled, and bounded however large the photo."""
    height, width = pixels.shape[:2]
    pad = round(max(box.width, box.height) * margin)
    x0, y0 = max(0, box.left - pad), max(0, box.top - pad)
    x1, y1 = min(width, box.right + pad), min(height, box.bottom + pad)
    return np.ascontiguousarray(pixels[y0:y1, x0:x1]), x0, y0

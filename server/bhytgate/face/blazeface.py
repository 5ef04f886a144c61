"""Face proposals from MediaPipe's BlazeFace (full range), on LiteRT: where the faces are, cheaply.

Why: dlib's HOG scan of a whole frame was most of a check's compute (62-69 ms of a 116 ms mean
check on the AMD bench VM, 70-140 ms per 720p-class frame there). BlazeFace looks at the frame once
at 192 x 192 (about 5 ms on one core) and finds the faces of a counter's frame down to ~6-7% of
its longer side (measured on the shared photos); HOG then runs only on a small copy of the
subject's neighbourhood (detect.py), so the box dlib's 5-point model and the ResNet were trained on
is unchanged. Where BlazeFace cannot be trusted, HOG's scan still decides (detect_proposed).

The model is `face_detection_full_range_sparse.tflite` from the same MediaPipe wheel as the mesh
(Apache-2.0; its training data is in Google's "MediaPipe BlazeFace Model Card (Full Range)", not
reviewed here: README, "Model files and their terms"). Decoding follows
MediaPipe's published graph options for it: one SSD layer of stride 4 (48 x 48 anchors of fixed size
1), coordinates scaled by 192, scores a logistic of the clipped logit, the frame's values in
[-1, 1], letterboxed into the square with zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from bhytgate.face.litert import LiteNet
from bhytgate.face.mesh_models import BLAZEFACE, verified_bytes

Pixels = npt.NDArray[np.uint8]

INPUT = 192
_GRID = INPUT // 4
# A face is proposed from this score. MediaPipe's own graph uses 0.6 for this model; lower finds
# more second faces for the multiple-faces gate, at the price of false ones, which only cost a HOG
# pass on their neighbourhood (they are never the subject unless HOG agrees). Measured on the
# camera's random block scenes around the shared photos: no false proposal at or above 0.5.
MIN_SCORE = 0.5
# Overlapping proposals of one face: the best-scoring one is kept (plain NMS; MediaPipe averages
# them, which steadies a tracked box, but here the box is only a proposal).
MAX_OVERLAP = 0.3


@dataclass(frozen=True, slots=True)
class Proposal:
    """A face BlazeFace found, in the frame's pixels: its box and six keypoints (the subject's right
    eye, left eye, nose tip, mouth centre, right ear, left ear)."""

    score: float
    left: float
    top: float
    right: float
    bottom: float
    keypoints: npt.NDArray[np.float64]  # (6, 2)

    @property
    def size(self) -> float:
        return max(self.right - self.left, self.bottom - self.top)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)


def _anchors() -> npt.NDArray[np.float64]:
    cells = (np.arange(_GRID, dtype=np.float64) + 0.5) / _GRID
    xs, ys = np.meshgrid(cells, cells)
    return np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1)  # row-major, as the model's outputs


def _iou(a: Proposal, b: Proposal) -> float:
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a.right - a.left) * (a.bottom - a.top) + (b.right - b.left) * (b.bottom - b.top) - inter
    return inter / union if union > 0 else 0.0


class BlazeFace:
    """One interpreter per worker process (its calls are serialised by `LiteNet`'s lock)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._net = LiteNet(verified_bytes(BLAZEFACE, directory))
        self._anchors = _anchors()

    def propose(
        self, pixels: Pixels, min_score: float = MIN_SCORE, *, image: Image.Image | None = None
    ) -> list[Proposal]:
        """Every face in the frame, best first. `image`: the same pixels as a Pillow image, when the
        caller has one (saves copying the frame into Pillow again)."""
        height, width = pixels.shape[:2]
        scale = INPUT / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        source = image if image is not None and image.size == (width, height) else Image.fromarray(pixels)
        small = source.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        # Letterboxed with zeros in the model's value range (mid grey), as MediaPipe's graph pads:
        # measured on the shared 150 px crops in 4:3 frames 1136 px wide, black bars (-1) left
        # 14 of 40 faces above MIN_SCORE, zeros 29.
        canvas = np.zeros((INPUT, INPUT, 3), dtype=np.float32)
        ox, oy = (INPUT - size[0]) // 2, (INPUT - size[1]) // 2
        canvas[oy : oy + size[1], ox : ox + size[0]] = np.asarray(small, dtype=np.float32) / 127.5 - 1.0
        out = self._net.run(canvas)
        raw = next(v for v in out.values() if v.shape[-1] == 16).reshape(-1, 16).astype(np.float64)
        logits = next(v for v in out.values() if v.shape[-1] == 1).reshape(-1).astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))
        # Best first; a NaN score is never >= min_score, so it is dropped here as well.
        order = np.argsort(-scores)
        order = order[scores[order] >= min_score]
        # Every candidate decoded at once (a frame has tens above SUSPECT_SCORE, mostly second looks
        # at one face): back from the letterboxed square to the frame's pixels.
        r = raw[order] / INPUT
        anchors = self._anchors[order]
        centre, half = r[:, 0:2] + anchors, r[:, 2:4] / 2.0
        to_px = np.array([ox, oy], dtype=np.float64)
        lows = ((centre - half) * INPUT - to_px) / scale
        highs = ((centre + half) * INPUT - to_px) / scale
        keypoints = ((r[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]) * INPUT - to_px) / scale
        usable = (
            np.isfinite(lows).all(axis=1)
            & np.isfinite(highs).all(axis=1)
            & np.isfinite(keypoints).all(axis=(1, 2))
            & (r[:, 2] > 0)
            & (r[:, 3] > 0)
        )
        found: list[Proposal] = []
        for j in np.flatnonzero(usable):
            (left, top), (right, bottom) = lows[j], highs[j]
            p = Proposal(
                float(scores[order[j]]), float(left), float(top), float(right), float(bottom), keypoints[j]
            )
            if all(_iou(p, q) < MAX_OVERLAP for q in found):
                found.append(p)
        return found

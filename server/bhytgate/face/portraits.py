"""Chip-portrait variants of a photo, for evaluation: what the issuer's DG2 does to a face.

A CCCD or passport stores the holder's portrait small and compressed (ISO/IEC 19794-5 token
images: eyes about 60 px apart, faces of roughly 64-120 px, JPEG or JPEG 2000 of a few kilobytes).
Matching a live capture against that is harder than matching two camera photos, so the evaluation
builds the reference side this way from ordinary labelled photos. Pillow resizes and writes JPEG;
imagecodecs (OpenJPEG) writes JPEG 2000.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Literal

import imagecodecs
import numpy as np
from PIL import Image

Codec = Literal["jpeg", "jpeg2000"]


@dataclasses.dataclass(frozen=True, slots=True)
class PortraitVariant:
    """Scale the photo so the detected face box is `face_px` tall, then encode it with `codec` at
    `quality` (JPEG: Pillow's 1-95 scale; JPEG 2000: OpenJPEG's quality level, PSNR-like)."""

    face_px: int
    codec: Codec
    quality: int

    def __post_init__(self) -> None:
        if not 16 <= self.face_px <= 1024:
            raise ValueError("face_px must be between 16 and 1024")
        if self.codec == "jpeg" and not 1 <= self.quality <= 95:
            raise ValueError("JPEG quality must be 1-95")
        if self.codec == "jpeg2000" and not 1 <= self.quality <= 100:
            raise ValueError("JPEG 2000 quality level must be 1-100")

    @property
    def name(self) -> str:
        return f"{self.codec}-q{self.quality}-face{self.face_px}"


# The evaluation's default grid: token-size faces from the smallest seen on real chips to a
# comfortable one, at the compressions issuers use.
DEFAULT_VARIANTS: tuple[PortraitVariant, ...] = tuple(
    PortraitVariant(px, codec, q)  # type: ignore[arg-type]
    for px in (64, 90, 120)
    for codec, q in (("jpeg", 50), ("jpeg", 30), ("jpeg2000", 40))
)


def make_portrait(pixels: np.ndarray, face_height: int, variant: PortraitVariant) -> bytes:
    """The encoded portrait of an RGB image whose face box is `face_height` px tall. Never enlarges
    (a photo whose face is already smaller is only re-encoded)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("expected an RGB uint8 image")
    if face_height <= 0:
        raise ValueError("face_height must be positive")
    scale = min(1.0, variant.face_px / face_height)
    image = Image.fromarray(pixels)
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    if variant.codec == "jpeg":
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=variant.quality)
        return out.getvalue()
    return bytes(imagecodecs.jpeg2k_encode(np.asarray(image), level=variant.quality, codecformat="jp2"))

"""Safe image decoding: sniff the format, check the declared size, then decode.

Order matters: the pixel budget is checked from the header alone, before any pixel is decoded, so a
decompression bomb costs a header parse. Only JPEG, PNG and JPEG 2000 are accepted (chip photos are
often JPEG 2000); everything else is refused by magic bytes, not by file name.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from bhytgate.face.errors import (
    ImageCorrupt,
    ImageEmpty,
    ImageTooLarge,
    ImageTruncated,
    UnsupportedFormat,
)

RGBImage = npt.NDArray[np.uint8]

_JPEG: Final = "jpeg"
_PNG: Final = "png"
_JPEG2000: Final = "jpeg2000"

# Pillow plugin allowed per sniffed format (its JPEG plugin also opens multi-picture phone JPEGs).
_PIL_FORMATS: Final[dict[str, tuple[str, ...]]] = {
    _JPEG: ("JPEG",),
    _PNG: ("PNG",),
    _JPEG2000: ("JPEG2000",),
}
Image.init()  # register the plugins once, before ``formats`` restricts which may open a file


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An upright RGB image (EXIF orientation applied) and what it was decoded from."""

    pixels: RGBImage  # shape (height, width, 3), uint8, C-contiguous
    format: str  # "jpeg" | "png" | "jpeg2000"

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def sniff_format(data: bytes) -> str:
    """Name the container from its magic bytes; refuse anything we do not decode."""
    if not data:
        raise ImageEmpty("zero-byte image")
    if data.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if data.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or data.startswith(b"\xff\x4f\xff\x51"):
        return _JPEG2000
    raise UnsupportedFormat("not a JPEG, PNG or JPEG 2000 image")


def _looks_truncated(data: bytes, fmt: str) -> bool:
    """Whether the file lacks its end marker: tells a cut-off transfer from garbled content."""
    tail = data[-4096:]
    if fmt == _JPEG:
        return b"\xff\xd9" not in tail
    if fmt == _PNG:
        return b"IEND" not in tail
    return b"\xff\xd9" not in tail  # JPEG 2000 codestream EOC marker


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Decode ``data`` into an upright RGB array, or raise an :class:`ImageError` saying why."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes exceeds the {max_bytes}-byte budget")
    fmt = sniff_format(data)
    # face_recognition sets Pillow's process-wide LOAD_TRUNCATED_IMAGES when it is imported, which
    # would turn a truncated frame into a silently grey-padded one. Refuse truncation regardless.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS[fmt]))
            width, height = img.size  # from the header only; nothing decoded yet
            if width <= 0 or height <= 0:
                raise ImageCorrupt("image declares an empty size")
            if width * height > max_pixels:
                raise ImageTooLarge(f"declared {width}x{height} exceeds the {max_pixels}-pixel budget")
            img.load()
            try:
                upright = ImageOps.exif_transpose(img)
            except Exception as exc:
                # EXIF is a parser of its own inside Pillow (TIFF directories) with failure modes
                # of its own (struct.error on a header without its IFD offset, found by fuzzing):
                # an orientation that cannot be read makes the frame unusable, not the gateway.
                raise ImageCorrupt("EXIF orientation unreadable") from exc
            rgb = upright.convert("RGB") if upright.mode != "RGB" else upright
            pixels = np.array(rgb, dtype=np.uint8, copy=True)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("declared size exceeds the decoder's own bomb limit") from exc
    except (ImageTooLarge, ImageCorrupt):
        raise
    except UnidentifiedImageError as exc:
        raise ImageCorrupt(f"{fmt} header not understood") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, MemoryError) as exc:
        # Pillow reports truncation and corruption through a handful of exception types with
        # free-text messages; the end marker is a steadier way to tell the two apart.
        if "truncated" in str(exc).lower() or _looks_truncated(data, fmt):
            raise ImageTruncated(f"{fmt} data ends early") from exc
        raise ImageCorrupt(f"{fmt} data could not be decoded") from exc
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[0] * pixels.shape[1] > max_pixels:
        raise ImageCorrupt("decoded image has an unexpected shape")
    return DecodedImage(pixels=np.ascontiguousarray(pixels), format=fmt)

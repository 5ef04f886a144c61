"""Safe image decoding: sniff the format, check the declared size, then decode.

Order matters: the pixel budget is checked from the header alone, before any pixel is decoded, so a
decompression bomb costs a header parse. Only JPEG, PNG and JPEG 2000 are accepted (chip photos are
often JPEG 2000); everything else is refused by magic bytes, not by file name.

`declared_size` reads the dimensions with a few bounded byte reads and no decoder, so the gateway's
main process can refuse an oversized frame before the challenge is spent (a 700-byte JPEG declaring
6000x4000 otherwise decodes, grey-padded, into a 72 MB array in ~0.5 s of worker time); the decoder
checks its own reading of the header again, and the decoded shape, in the worker.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
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
    # The same pixels as Pillow decoded them: the detector's small copy and the frame's fingerprint
    # are resized from it instead of from a fresh `Image.fromarray` copy of the whole frame each
    # (0.3-0.8 ms a frame apiece, measured on a 960 x 768 capture). None when built from an array.
    image: Image.Image | None = field(default=None, compare=False, repr=False)

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


# JPEG start-of-frame markers (SOF0-SOF15 but DHT C4, JPG C8, DAC CC, which share the range).
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE: Final = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
_JPEG_MAX_STEPS: Final = 256


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "big")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The largest size any start-of-frame segment before the scan declares (the decoder uses the
    last one: taking the largest refuses whichever it would pick)."""
    best: tuple[int, int] | None = None
    i = 2
    # Bounded steps, not bytes: this runs on the gateway's event loop, and 4 MiB of 4-byte segments
    # would be a million of them. Real files have a few dozen segments before the scan; past the
    # bound the size is left to the worker's decoder, which checks its own reading of the header.
    for _ in range(_JPEG_MAX_STEPS):
        if i + 4 > len(data):
            break
        if data[i] != 0xFF:
            break  # not a marker where one must be: corrupt, the decoder says so
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header after this
            break
        length = _u16(data, i + 2)
        if length < 2:
            break
        if marker in _SOF and i + 9 <= len(data):
            height, width = _u16(data, i + 5), _u16(data, i + 7)
            if best is None or width * height > best[0] * best[1]:
                best = (width, height)
        i += 2 + length
    else:
        return None  # cut short: a later frame header could declare more
    return best


def _jp2_size(data: bytes) -> tuple[int, int] | None:
    """JPEG 2000: the codestream's SIZ segment (image area minus offsets), or the JP2 container's
    `ihdr` box inside `jp2h`."""
    if data.startswith(b"\xff\x4f\xff\x51"):
        if len(data) < 24:
            return None
        width = _u32(data, 8) - _u32(data, 16)
        height = _u32(data, 12) - _u32(data, 20)
        return (max(0, width), max(0, height))
    return _jp2_boxes(data, 0, len(data), depth=0)


def _jp2_boxes(data: bytes, start: int, end: int, *, depth: int) -> tuple[int, int] | None:
    i = start
    for _ in range(64):  # a JP2 header has a handful of boxes; bounded whatever the input says
        if i + 8 > end:
            return None
        length, kind, header = _u32(data, i), data[i + 4 : i + 8], 8
        if length == 1:
            if i + 16 > end:
                return None
            length, header = int.from_bytes(data[i + 8 : i + 16], "big"), 16
        elif length == 0:
            length = end - i
        if length < header:
            return None
        box_end = min(end, i + length)
        if kind == b"jp2h" and depth == 0:
            return _jp2_boxes(data, i + header, box_end, depth=1)
        if kind == b"ihdr" and depth == 1:
            at = i + header
            return (_u32(data, at + 4), _u32(data, at)) if at + 8 <= box_end else None
        i += length
    return None


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the image's header declares them, without a decoder; None where the
    header does not say (the decoder then refuses the image as corrupt, or reads it itself).

    Raises :class:`ImageEmpty` / :class:`UnsupportedFormat` as :func:`sniff_format` does."""
    fmt = sniff_format(data)
    if fmt == _PNG:
        # IHDR must be the first chunk: length 13, then width and height.
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return (_u32(data, 16), _u32(data, 20))
    if fmt == _JPEG:
        return _jpeg_size(data)
    return _jp2_size(data)


def check_declared_size(data: bytes, max_pixels: int) -> None:
    """Refuse `data` if its header declares more than `max_pixels` (:class:`ImageTooLarge`)."""
    size = declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLarge(f"declared {size[0]}x{size[1]} exceeds the {max_pixels}-pixel budget")


def _looks_truncated(data: bytes, fmt: str) -> bool:
    """Whether the file lacks its end marker: tells a cut-off transfer from garbled content."""
    tail = data[-4096:]
    if fmt == _JPEG:
        return b"\xff\xd9" not in tail
    if fmt == _PNG:
        return b"IEND" not in tail
    return b"\xff\xd9" not in tail  # JPEG 2000 codestream EOC marker


# Greyscale deeper than 8 bits: a 16-bit PNG, or a JPEG 2000 of 9-16 bits (Pillow scales its
# precision to 16 bits). Pillow's `convert("RGB")` clips these values at 255 instead of scaling them,
# so a 16-bit portrait decoded almost white and was refused as `no_face`.
_WIDE_GREY: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in _WIDE_GREY:
        wide = np.asarray(img).astype(np.int64)
        grey = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Decode ``data`` into an upright RGB array, or raise an :class:`ImageError` saying why."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes exceeds the {max_bytes}-byte budget")
    fmt = sniff_format(data)
    check_declared_size(data, max_pixels)  # before Pillow parses anything
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
            rgb = _to_rgb(upright)
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
    return DecodedImage(pixels=np.ascontiguousarray(pixels), format=fmt, image=rgb)

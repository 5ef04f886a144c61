"""Decoding: formats, EXIF orientation, and a typed refusal for everything else, quickly."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bhytgate.face import FaceEngine
from bhytgate.face.decode import DecodedImage, decode_image, sniff_format
from bhytgate.face.errors import (
    ImageCorrupt,
    ImageEmpty,
    ImageError,
    ImageTooLarge,
    ImageTruncated,
    UnsupportedFormat,
)

BUDGET = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 24_000_000}
OBAMA = "face_recognition/examples/obama.jpg"
RGBA = "face_recognition/tests/test_images/32bit.png"
AMY = "face-api.js/amy/amy2.png"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring width x height with a tiny (invalid) payload: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _refused_within(error: type[ImageError], data: bytes, seconds: float) -> None:
    start = time.perf_counter()
    with pytest.raises(error):
        decode_image(data, **BUDGET)
    assert time.perf_counter() - start < seconds


def test_jpeg_png_and_jpeg2000_decode(read: Callable[[str], bytes], reencode: Callable[..., bytes]) -> None:
    jpeg = decode_image(read(OBAMA), **BUDGET)
    assert (jpeg.format, jpeg.pixels.shape) == ("jpeg", (1137, 910, 3))
    png = decode_image(read(AMY), **BUDGET)
    assert (png.format, png.pixels.shape) == ("png", (150, 150, 3))
    jp2 = decode_image(reencode(read(AMY), "JPEG2000"), **BUDGET)
    j2c = decode_image(reencode(read(AMY), "JPEG2000", no_jp2=True), **BUDGET)
    assert jp2.format == j2c.format == "jpeg2000"
    assert np.array_equal(jp2.pixels, png.pixels)  # Pillow's JPEG 2000 default is lossless


def test_rgba_png_decodes_to_rgb(read: Callable[[str], bytes]) -> None:
    raw = Image.open(io.BytesIO(read(RGBA)))
    assert raw.mode == "RGBA"
    decoded = decode_image(read(RGBA), **BUDGET)
    assert decoded.pixels.shape == (1200, 626, 3) and decoded.pixels.dtype == np.uint8


def _grey16(read: Callable[[str], bytes], fmt: str) -> tuple[bytes, np.ndarray]:
    """OBAMA as 8-bit grey, and the same grey widened to 16 bits (PNG) or 12 bits (JPEG 2000)."""
    grey = np.asarray(Image.open(io.BytesIO(read(OBAMA))).convert("L"), dtype=np.uint8)
    if fmt == "png":
        wide = Image.fromarray(grey.astype(np.uint16) * 257)  # mode I;16, full 16-bit range
        buf = io.BytesIO()
        wide.save(buf, "PNG")
        return buf.getvalue(), grey
    import imagecodecs

    return bytes(
        imagecodecs.jpeg2k_encode(grey.astype(np.uint16) << 4, level=100, codecformat="jp2", bitspersample=12)
    ), grey


@pytest.mark.parametrize("fmt", ["png", "jpeg2000"])
def test_greyscale_deeper_than_8_bits_is_scaled_not_clipped(
    engine: FaceEngine, read: Callable[[str], bytes], fmt: str
) -> None:
    # Pillow's convert("RGB") clips 16-bit grey at 255: the portrait decoded white, refused as
    # no_face (a 12-bit greyscale JPEG 2000 chip photo, a 16-bit PNG from a scanner).
    data, grey = _grey16(read, fmt)
    decoded = decode_image(data, **BUDGET)
    assert decoded.format == fmt and decoded.pixels.dtype == np.uint8
    assert np.abs(decoded.pixels[..., 0].astype(int) - grey).max() <= 1
    assert engine.analyze(data).box.height >= 200
    assert engine.chip_embedding(data).shape == (128,)


def test_exif_orientation_is_applied(engine: FaceEngine, read: Callable[[str], bytes]) -> None:
    upright = Image.open(io.BytesIO(read(OBAMA))).convert("RGB")
    # Store the pixels on their side with EXIF orientation 6 ("rotate 90° clockwise to view"), as
    # phones do.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    decoded = decode_image(buf.getvalue(), **BUDGET)
    assert decoded.pixels.shape[:2] == (upright.height, upright.width)
    # A face lying on its side is invisible to the frontal HOG detector: it is found only upright.
    assert engine.analyze(buf.getvalue()).box.height >= 200


def test_zero_bytes() -> None:
    with pytest.raises(ImageEmpty):
        decode_image(b"", **BUDGET)


def test_random_bytes_are_unsupported() -> None:
    with pytest.raises(UnsupportedFormat) as err:
        decode_image(os.urandom(4096), **BUDGET)
    assert err.value.reason == "unsupported_format"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "TIFF"])
def test_other_formats_are_unsupported(
    read: Callable[[str], bytes], reencode: Callable[..., bytes], fmt: str
) -> None:
    with pytest.raises(UnsupportedFormat):
        decode_image(reencode(read(AMY), fmt), **BUDGET)


@pytest.mark.parametrize("fraction", [0.01, 0.3, 0.6, 0.95])
def test_truncated_jpeg(read: Callable[[str], bytes], fraction: float) -> None:
    data = read(OBAMA)
    cut = data[: int(len(data) * fraction)]
    _refused_within(ImageTruncated, cut, 0.5)


def test_truncated_png_and_jpeg2000(read: Callable[[str], bytes], reencode: Callable[..., bytes]) -> None:
    png = read(AMY)
    with pytest.raises(ImageTruncated):
        decode_image(png[: len(png) // 2], **BUDGET)
    jp2 = reencode(png, "JPEG2000")
    with pytest.raises(ImageTruncated):
        decode_image(jp2[: len(jp2) // 2], **BUDGET)


def test_garbled_header_is_corrupt() -> None:
    with pytest.raises(ImageCorrupt):
        decode_image(b"\xff\xd8\xff" + bytes(range(256)) * 8 + b"\xff\xd9", **BUDGET)


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (6_000, 4_001), (100_000, 300)])
def test_decompression_bomb_is_refused_from_the_header(width: int, height: int) -> None:
    bomb = _png_header_only(width, height)
    assert len(bomb) < 200
    _refused_within(ImageTooLarge, bomb, 0.05)


def test_real_bomb_compresses_small_and_is_refused_quickly() -> None:
    buf = io.BytesIO()
    Image.new("L", (20_000, 20_000)).save(buf, "PNG")  # 400 Mpx of zeros in ~400 kB
    assert len(buf.getvalue()) < 1_000_000
    _refused_within(ImageTooLarge, buf.getvalue(), 0.05)


def test_byte_budget(read: Callable[[str], bytes]) -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(read(OBAMA), max_bytes=1000, max_pixels=BUDGET["max_pixels"])


def test_engine_reports_decode_errors(engine: FaceEngine) -> None:
    with pytest.raises(ImageEmpty) as err:
        engine.analyze(b"")
    assert err.value.reason == "image_empty"


def test_sniff() -> None:
    assert sniff_format(b"\x89PNG\r\n\x1a\nrest") == "png"
    assert sniff_format(b"\xff\x4f\xff\x51") == "jpeg2000"
    with pytest.raises(UnsupportedFormat):
        sniff_format(b"GIF89a")


_SEEDS: dict[str, bytes] = {}


def _seed(kind: str) -> bytes:
    if kind not in _SEEDS:
        img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8))
        buf = io.BytesIO()
        img.save(buf, {"jpeg": "JPEG", "png": "PNG", "jp2": "JPEG2000"}[kind])
        _SEEDS[kind] = buf.getvalue()
    return _SEEDS[kind]


@st.composite
def _mangled(draw: st.DrawFn) -> bytes:
    choice = draw(st.sampled_from(["raw", "jpeg", "png", "jp2"]))
    if choice == "raw":
        return draw(st.binary(max_size=2048))
    data = bytearray(_seed(choice))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mangled())
def test_property_any_bytes_decode_or_typed_error(data: bytes) -> None:
    try:
        out = decode_image(data, max_bytes=1 << 20, max_pixels=4_000_000)
    except ImageError as exc:
        assert exc.reason in {
            "image_empty",
            "image_too_large",
            "image_truncated",
            "image_corrupt",
            "unsupported_format",
        }
    else:
        assert isinstance(out, DecodedImage)
        assert out.pixels.ndim == 3 and out.pixels.shape[2] == 3 and out.pixels.dtype == np.uint8


def test_truncation_is_refused_even_after_face_recognition_is_imported(read: Callable[[str], bytes]) -> None:
    """face_recognition flips Pillow's global LOAD_TRUNCATED_IMAGES on import; the decoder must not care."""
    import face_recognition  # noqa: F401 - imported for its side effect
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True
    data = read(OBAMA)
    with pytest.raises(ImageTruncated):
        decode_image(data[: len(data) // 3], **BUDGET)

"""The live-frame pixel budget, read from the header without a decoder.

A 700-byte JPEG declaring 6000x4000 used to pass the 24 Mpx budget and decode, grey-padded, into a
72 MB array (~0.5 s of worker time per frame, 12 frames a call). Live frames now have their own,
lower budget, checked from the declared size before Pillow sees the bytes. No timing is asserted:
the decoder is replaced by one that fails the test if it is reached.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bhytgate.face import FaceConfig
from bhytgate.face import decode as decode_module
from bhytgate.face.decode import check_declared_size, declared_size, decode_image
from bhytgate.face.errors import ImageEmpty, ImageTooLarge, UnsupportedFormat

OBAMA = "face_recognition/examples/obama.jpg"
UHD = 3840 * 2160


def jpeg_declaring(width: int, height: int, *, progressive: bool = False) -> bytes:
    """A real 64x64 JPEG whose frame header is rewritten to declare width x height."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 60)).save(buf, "JPEG", quality=90, progressive=progressive)
    data = bytearray(buf.getvalue())
    i = 2
    while True:
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC2):
            data[i + 5 : i + 7] = height.to_bytes(2, "big")
            data[i + 7 : i + 9] = width.to_bytes(2, "big")
            return bytes(data)
        i += 2 + length


def _no_decoder(*_: object, **__: object) -> None:
    raise AssertionError("the decoder was reached")


def test_live_frames_have_a_lower_budget_than_the_chip_portrait() -> None:
    config = FaceConfig()
    assert config.max_frame_pixels == UHD
    assert config.max_frame_pixels < config.max_image_pixels == 24_000_000
    with pytest.raises(ValueError, match="positive"):
        FaceConfig(max_frame_pixels=0)


@pytest.mark.parametrize("progressive", [False, True])
def test_a_tiny_jpeg_declaring_24_mpx_is_refused_before_any_decoder(
    monkeypatch: pytest.MonkeyPatch, progressive: bool
) -> None:
    bomb = jpeg_declaring(6000, 4000, progressive=progressive)
    assert len(bomb) < 1024
    assert declared_size(bomb) == (6000, 4000)
    monkeypatch.setattr(decode_module.Image, "open", _no_decoder)
    with pytest.raises(ImageTooLarge, match="declared 6000x4000"):
        decode_image(bomb, max_bytes=10 * 1024 * 1024, max_pixels=FaceConfig().max_frame_pixels)


def test_the_budget_boundary_is_inclusive() -> None:
    check_declared_size(jpeg_declaring(3840, 2160), UHD)
    with pytest.raises(ImageTooLarge):
        check_declared_size(jpeg_declaring(3841, 2160), UHD)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "JPEG2000"])
@pytest.mark.parametrize("size", [(1, 1), (640, 480), (910, 1137)])
def test_declared_size_agrees_with_the_decoder(
    read: Callable[[str], bytes], fmt: str, size: tuple[int, int]
) -> None:
    with Image.open(io.BytesIO(read(OBAMA))) as img:
        picture = img.convert("RGB").resize(size)
    buf = io.BytesIO()
    picture.save(buf, fmt, **({"no_jp2": False} if fmt == "JPEG2000" else {}))
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as reopened:
        assert declared_size(data) == reopened.size == size
    if fmt == "JPEG2000":  # the raw codestream as well as the .jp2 container
        raw = io.BytesIO()
        picture.save(raw, fmt, no_jp2=True)
        assert declared_size(raw.getvalue()) == size


def test_the_header_reader_is_bounded_and_the_decoder_still_checks() -> None:
    """Thousands of empty segments before the frame header: the main process's reader gives up
    after a bounded number of steps (it runs on the event loop); the worker's decoder still refuses
    the declared size from its own reading of the header, before decoding."""
    bomb = jpeg_declaring(6000, 4000)
    padded = bomb[:2] + b"\xff\xfe\x00\x02" * 5000 + bomb[2:]  # COM segments with no text
    assert declared_size(padded) is None
    with pytest.raises(ImageTooLarge):
        decode_image(padded, max_bytes=10 * 1024 * 1024, max_pixels=FaceConfig().max_frame_pixels)


def test_headers_that_do_not_say_leave_it_to_the_decoder() -> None:
    assert declared_size(b"\xff\xd8\xff\xe0" + b"\x00" * 100) is None  # no frame header
    assert declared_size(b"\x89PNG\r\n\x1a\n") is None  # no IHDR
    assert declared_size(b"\x00\x00\x00\x0cjP  \r\n\x87\n") is None  # no jp2h
    with pytest.raises(ImageEmpty):
        declared_size(b"")
    with pytest.raises(UnsupportedFormat):
        declared_size(b"GIF89a" + b"\x00" * 20)


MAGIC = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(MAGIC), st.binary(max_size=300))
def test_declared_size_never_fails_on_hostile_headers(magic: bytes, tail: bytes) -> None:
    size = declared_size(magic + tail)
    assert size is None or (size[0] >= 0 and size[1] >= 0)

"""Crashers found by the fuzzing campaign (benchmarks/fuzz, report in benchmarks/results/2026-12-01-fuzz.md).

`decode_image` must refuse a hostile frame with an `ImageError`. A PNG whose eXIf chunk holds a TIFF
header without the 4-byte offset of the first IFD (b"MM\\x00*", optionally after b"Exif\\x00\\x00")
decodes, then `ImageOps.exif_transpose` -> `getexif()` -> `TiffImagePlugin.ImageFileDirectory_v2`
raised `struct.error` ("unpack requires a buffer of 4 bytes"), which was not among the exceptions
decode.py mapped to a typed error: in the gateway (by the code path: facejob.py catches FaceError
only) it would leave the face worker and end the check as INTERNAL after its challenge was spent.
Fixed in 6f71bc4 (an unreadable EXIF orientation is ImageCorrupt); these inputs keep it fixed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bhytgate.face import FaceConfig
from bhytgate.face.decode import decode_image
from bhytgate.face.errors import ImageCorrupt

DATA = Path(__file__).parent / "data"
CRASHERS = [
    "image-png-exif-no-ifd-offset-126ef864.png",  # as the fuzzer found it (1,920 bytes, 42x96, palette)
    "image-png-exif-no-ifd-offset-minimal.png",  # 1x1 RGB PNG + eXIf b"MM\x00*" (85 bytes)
]


@pytest.mark.parametrize("name", CRASHERS)
def test_png_with_truncated_exif_header_is_a_typed_image_error(name: str) -> None:
    data = (DATA / name).read_bytes()
    config = FaceConfig()
    with pytest.raises(ImageCorrupt):
        decode_image(data, max_bytes=config.max_image_bytes, max_pixels=config.max_image_pixels)

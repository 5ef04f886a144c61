"""DG2: the holder's face image inside the CBEFF biometric template (ICAO 9303 part 10).

Two encodings of the biometric data block exist: ISO/IEC 19794-5 (a binary record under 5F2E,
what the CCCD carries) and ISO/IEC 39794-5 (ASN.1 under 7F2E). Both yield the image bytes and
their format; the image itself is decoded by the face pipeline, not here.
"""

from __future__ import annotations

import dataclasses
import struct

from bhytgate.chip.errors import ChipFormatError
from bhytgate.chip.lds.tlv import Tlv, unwrap

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000"),
    (b"\xff\x4f\xff\x51", "jpeg2000"),  # raw J2K codestream
    (b"\x89PNG\r\n\x1a\n", "png"),
)


@dataclasses.dataclass(frozen=True)
class FaceImage:
    image: bytes
    format: str  # "jpeg" | "jpeg2000" | "png"
    width: int | None
    height: int | None
    encoding: str  # "iso19794-5" | "iso39794-5"


def image_format(data: bytes) -> str | None:
    for magic, name in _MAGICS:
        if data.startswith(magic):
            return name
    return None


def _find(node: Tlv, class_: int, tag: int, *, depth: int = 0) -> list[Tlv]:
    found = []
    for child in node.children("DG2", depth):
        if child.class_ == class_ and child.tag == tag:
            found.append(child)
    return found


def parse_dg2(data: bytes) -> list[FaceImage]:
    """Every face image in DG2, first one first; a typed error if there is none."""
    outer = unwrap(data, "DG2")
    groups = _find(outer, 1, 0x61)  # 7F61 biometric information group template
    if not groups:
        raise ChipFormatError("DG2 has no biometric information group (7F61)", reason="dg2_malformed")
    images: list[FaceImage] = []
    for instance in _find(groups[0], 1, 0x60, depth=1):  # 7F60 biometric information template
        for child in instance.children("DG2", 2):
            if child.class_ == 1 and child.tag == 0x2E:  # 5F2E or 7F2E biometric data block
                images.append(_iso39794(child) if child.constructed else _iso19794(child.contents))
    if not images:
        raise ChipFormatError("DG2 holds no biometric data block", reason="dg2_malformed")
    return images


def _iso19794(bdb: bytes) -> FaceImage:
    if len(bdb) < 14 or bdb[:4] != b"FAC\x00":
        raise ChipFormatError(
            "DG2 biometric data block is not an ISO/IEC 19794-5 record", reason="dg2_malformed"
        )
    version = bdb[4:8]
    if version == b"010\x00":
        try:
            _, faces = struct.unpack(">IH", bdb[8:14])
            offset = 14
            block_length, feature_points = struct.unpack(">IH", bdb[offset : offset + 6])
            image_info = offset + 20 + 8 * feature_points
            _, data_type, width, height = struct.unpack(">BBHH", bdb[image_info : image_info + 6])
        except struct.error as exc:
            raise ChipFormatError(
                f"ISO/IEC 19794-5 record is truncated: {exc}", reason="dg2_malformed"
            ) from exc
        start = image_info + 12
        end = offset + block_length
        if faces < 1 or end > len(bdb) or start >= end:
            raise ChipFormatError("ISO/IEC 19794-5 record lengths are inconsistent", reason="dg2_malformed")
        image = bdb[start:end]
        fmt = image_format(image) or {0: "jpeg", 1: "jpeg2000"}.get(data_type)
        if fmt is None:
            raise ChipFormatError(f"unknown face image data type {data_type}", reason="dg2_malformed")
        return FaceImage(image, fmt, width, height, "iso19794-5")
    # Other record versions (19794-5:2011): locate the image by its signature.
    for magic, fmt in _MAGICS:
        at = bdb.find(magic, 8)
        if at >= 0:
            return FaceImage(bdb[at:], fmt, None, None, "iso19794-5")
    raise ChipFormatError("no image found in the ISO/IEC 19794-5 record", reason="dg2_malformed")


def _iso39794(bdb: Tlv) -> FaceImage:
    """The first primitive value in the 39794-5 tree whose contents are an image."""
    stack: list[tuple[Tlv, int]] = [(bdb, 0)]
    while stack:
        node, depth = stack.pop()
        if node.constructed:
            stack.extend((child, depth + 1) for child in reversed(node.children("DG2", depth)))
            continue
        fmt = image_format(node.contents)
        if fmt is not None:
            return FaceImage(node.contents, fmt, None, None, "iso39794-5")
    raise ChipFormatError("no image found in the ISO/IEC 39794-5 block", reason="dg2_malformed")

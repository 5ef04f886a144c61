"""TLV walking for elementary files, on asn1crypto's BER parser (no hand-written length decoding)."""

from __future__ import annotations

import dataclasses

from asn1crypto import parser

from bhytgate.chip.crypto.cms import PARSE_ERRORS
from bhytgate.chip.errors import ChipFormatError

MAX_EF_BYTES = 4 * 1024 * 1024  # the largest DG2/DG3 seen in the field is well under 1 MiB
MAX_DEPTH = 16  # LDS structures nest at most ~6 deep; deeper input is hostile

# File name -> first byte of the file ([APPLICATION n], constructed)
EF_TAGS: dict[str, int] = {
    "EF.SOD": 0x77,
    "DG1": 0x61,
    "DG2": 0x75,
    "DG13": 0x6D,
    "DG14": 0x6E,
    "DG15": 0x6F,
}


@dataclasses.dataclass(frozen=True)
class Tlv:
    """One BER TLV: class, constructed flag, tag number, raw encoding and contents."""

    class_: int
    constructed: bool
    tag: int
    encoded: bytes
    contents: bytes

    @property
    def tag_bytes(self) -> bytes:
        """The identifier octets as written, e.g. b"\\x5f\\x1f"."""
        return self.encoded[: len(self.encoded) - len(self.contents)][: self._identifier_length()]

    def _identifier_length(self) -> int:
        if self.encoded[0] & 0x1F != 0x1F:
            return 1
        n = 1
        while self.encoded[n] & 0x80:
            n += 1
        return n + 1

    def children(self, name: str, depth: int = 0) -> list[Tlv]:
        if not self.constructed:
            raise ChipFormatError(f"{name}: expected a constructed value", reason="truncated_or_malformed")
        return parse_all(self.contents, name, depth + 1)


def parse_one(data: bytes, name: str) -> Tlv:
    """Exactly one TLV filling `data`."""
    items = parse_all(data, name)
    if len(items) != 1:
        raise ChipFormatError(
            f"{name}: expected one TLV, found {len(items)}", reason="truncated_or_malformed"
        )
    return items[0]


def parse_all(data: bytes, name: str, depth: int = 0) -> list[Tlv]:
    """Every TLV in `data`, in order; a typed error for truncation, junk or hostile nesting."""
    if depth > MAX_DEPTH:
        raise ChipFormatError(f"{name}: nested deeper than {MAX_DEPTH}", reason="too_deep")
    items: list[Tlv] = []
    offset = 0
    try:
        while offset < len(data):
            class_, method, tag, header, contents, trailer = parser.parse(data[offset:], strict=False)
            size = len(header) + len(contents) + len(trailer)
            if size == 0:
                raise ValueError("zero-length TLV")
            items.append(Tlv(class_, method == 1, tag, data[offset : offset + size], contents))
            offset += size
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"{name}: TLV does not parse: {exc}", reason="truncated_or_malformed") from exc
    return items


def first_tlv_length(data: bytes) -> int | None:
    """How many bytes the first TLV of `data` spans, or None when it does not parse."""
    try:
        _class, _method, _tag, header, contents, trailer = parser.parse(data, strict=False)
    except PARSE_ERRORS:
        return None
    return len(header) + len(contents) + len(trailer)


def unwrap(data: bytes, name: str) -> Tlv:
    """The file's outer [APPLICATION n] TLV, checked against the expected tag; size bounded."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ChipFormatError(f"{name}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ChipFormatError(f"{name} is empty", reason="file_empty")
    if len(data) > MAX_EF_BYTES:
        raise ChipFormatError(
            f"{name} is {len(data)} bytes, over the {MAX_EF_BYTES} limit", reason="file_too_large"
        )
    first = EF_TAGS[name]
    if data[0] != first:
        raise ChipFormatError(
            f"{name} starts with tag 0x{data[0]:02X}, expected 0x{first:02X}", reason="wrong_tag"
        )
    length = first_tlv_length(data)
    if length is not None and length < len(data):
        raise ChipFormatError(
            f"{name} has {len(data) - length} bytes after its TLV (reader padding?): "
            "send the file's TLV only",
            reason="truncated_or_malformed",
        )
    outer = parse_one(data, name)
    if not outer.constructed:
        raise ChipFormatError(f"{name}: outer tag is not constructed", reason="wrong_tag")
    return outer

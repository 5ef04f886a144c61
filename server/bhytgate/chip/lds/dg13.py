"""DG13, the Vietnamese CCCD personal-data group.

Layout seen on cards: 6D { SEQUENCE { INTEGER 1, OID 1.0.10646.1.0.8, SET OF SEQUENCE { INTEGER n,
value... } } }. Parsed as a TLV tree keyed by the field number n, never by position: fields may be
absent, may appear in any order, and unknown numbers are kept as they are.

The 2024 Căn cước card (TT 16/2024/TT-BCA) keeps only the ICAO-encoded fields readable and
encrypts the rest with the issuing agency's own algorithm: a field whose value is not text (an
OCTET STRING, or ciphertext under a string tag that does not decode) is kept opaque in `unknown`,
never an error.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from asn1crypto import core

from bhytgate.chip.errors import ChipFormatError
from bhytgate.chip.lds.tlv import Tlv, unwrap

FIELD_NAMES: dict[int, str] = {
    1: "id_number",
    2: "full_name",
    3: "date_of_birth",
    4: "sex",
    5: "nationality",
    6: "ethnicity",
    7: "religion",
    8: "place_of_origin",
    9: "place_of_residence",
    10: "identifying_marks",
    11: "issue_date",
    12: "expiry_date",
    13: "parents",
    14: "spouse",
    15: "old_id_number",
    16: "unknown_16",
}

_STRING_TAGS = {12: "utf-8", 19: "ascii", 22: "ascii", 26: "ascii", 20: "latin-1", 30: "utf-16-be"}


@dataclasses.dataclass(frozen=True)
class Dg13:
    """Text fields by name; `parents` and `spouse` as name lists; unknown numbers and unreadable
    (encrypted) fields kept raw in `unknown`."""

    fields: dict[str, str]
    parents: tuple[str, ...]
    spouse: tuple[str, ...]
    unknown: dict[int, bytes]
    version: int | None
    charset_oid: str | None

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.fields)
        out["parents"] = list(self.parents)
        out["spouse"] = list(self.spouse)
        if self.unknown:
            out["unknown"] = {str(k): v.hex() for k, v in sorted(self.unknown.items())}
        return out


def _text(node: Tlv) -> str | None:
    if node.class_ == 0 and not node.constructed and node.tag in _STRING_TAGS:
        try:
            return node.contents.decode(_STRING_TAGS[node.tag]).strip()
        except UnicodeDecodeError:
            return None  # ciphertext under a string tag (2024 cards): opaque, not text
    return None


def _texts(node: Tlv, depth: int) -> list[str]:
    """All strings under `node`, flattening SEQUENCEs (parents appear both flat and nested)."""
    text = _text(node)
    if text is not None:
        return [text] if text else []
    if node.constructed:
        out: list[str] = []
        for child in node.children("DG13", depth):
            out.extend(_texts(child, depth + 1))
        return out
    return []


def _integer(node: Tlv) -> int | None:
    if node.class_ == 0 and node.tag == 2 and not node.constructed and 0 < len(node.contents) <= 4:
        return int.from_bytes(node.contents, "big", signed=True)
    return None


def parse_dg13(data: bytes) -> Dg13:
    outer = unwrap(data, "DG13")
    top = outer.children("DG13")
    body = top[0] if len(top) == 1 and top[0].class_ == 0 and top[0].tag == 16 else outer
    version: int | None = None
    charset: str | None = None
    field_set: Tlv | None = None
    for child in body.children("DG13", 1):
        if child.class_ == 0 and child.tag == 2 and version is None:
            version = _integer(child)
        elif child.class_ == 0 and child.tag == 6 and not child.constructed:
            charset = _oid(child.encoded)
        elif child.class_ == 0 and child.tag in (16, 17) and child.constructed and field_set is None:
            field_set = child
    if field_set is None:
        raise ChipFormatError("DG13 holds no set of fields", reason="dg13_malformed")
    fields: dict[str, str] = {}
    parents: tuple[str, ...] = ()
    spouse: tuple[str, ...] = ()
    unknown: dict[int, bytes] = {}
    for entry in field_set.children("DG13", 2):
        if not (entry.class_ == 0 and entry.tag == 16 and entry.constructed):
            continue
        parts = entry.children("DG13", 3)
        number = _integer(parts[0]) if parts else None
        if number is None:
            continue
        values = parts[1:]
        if number in (13, 14):
            names = tuple(t for v in values for t in _texts(v, 4))
            if number == 13:
                parents = names
            else:
                spouse = names
            if not names and any(v.contents for v in values):
                unknown[number] = b"".join(v.encoded for v in values)  # encrypted: kept opaque
        elif number in FIELD_NAMES and number != 16:
            texts = [t for v in values for t in _texts(v, 4)]
            if texts:
                fields[FIELD_NAMES[number]] = " ".join(texts)
            elif values:
                unknown[number] = b"".join(v.encoded for v in values)  # encrypted: kept opaque
        else:
            unknown[number] = b"".join(v.encoded for v in values)
            texts = [t for v in values for t in _texts(v, 4)]
            if number == 16 and texts:
                fields[FIELD_NAMES[16]] = " ".join(texts)
    return Dg13(fields, parents, spouse, unknown, version, charset)


def _oid(encoded: bytes) -> str | None:
    try:
        return str(core.ObjectIdentifier.load(encoded).dotted)
    except (ValueError, TypeError, IndexError):
        return None

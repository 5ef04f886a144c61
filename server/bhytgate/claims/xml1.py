"""One dossier's XML1 (the visit summary, root usually TONG_HOP): the fields reconciliation uses.

Input is the FILEHOSO's NOIDUNGFILE, base64 (as the standard says) or plain XML (as some tools
write it), or the leaf fields already read when the envelope held the table inline. Hostile XML is
refused: defusedxml with DTDs forbidden (so no entity expansion, no billion laughs, no external
entity). Every failure is a `Problem` with a reason naming the field, never the value.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import decimal
import re
from collections.abc import Mapping

import defusedxml
import defusedxml.ElementTree as DET

from bhytgate import ids
from bhytgate.checkin.record import VIETNAM

_MINUTES = re.compile(r"[0-9]{12}", re.ASCII)
# T_BHTT is what the fund is asked to pay: a non-negative amount (a negative one would hide others
# in the class totals), so "-5" is no amount and the dossier is unparseable.
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?", re.ASCII)
_B64_SPACE = re.compile(rb"[ \t\r\n]+")
MAX_MA_LK = 100


@dataclasses.dataclass(frozen=True, slots=True)
class Xml1:
    ma_lk: str
    facility: str  # MA_CSKCB
    arrival: dt.datetime  # NGAY_VAO (Vietnam time, aware)
    end: dt.datetime | None  # NGAY_RA
    cccd: str | None  # SO_CCCD when it is a 12-digit CCCD (9-digit CMND and passports cannot match)
    cards: tuple[str, ...]  # valid 15-character codes of MA_THE_BHYT
    amount: decimal.Decimal  # T_BHTT


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    reason: str
    ma_lk: str = ""
    amount: decimal.Decimal = decimal.Decimal(0)  # T_BHTT when it was readable


def strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def decode_payload(text: str) -> bytes | Problem:
    """NOIDUNGFILE's text: plain XML if it starts with '<', else strict base64."""
    stripped = text.strip()
    if not stripped:
        return Problem("XML1 NOIDUNGFILE is empty")
    if stripped.startswith("<"):
        return stripped.encode("utf-8")
    try:
        raw = _B64_SPACE.sub(b"", stripped.encode("ascii"))
        return base64.b64decode(raw, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return Problem("XML1 NOIDUNGFILE is neither base64 nor XML")


def fields_of(document: bytes) -> Mapping[str, str] | Problem:
    """The leaf fields of the element holding MA_LK (TONG_HOP, wherever it is nested)."""
    try:
        root = DET.fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException:
        return Problem("XML1 declares a DTD or entities: refused")
    except DET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        return Problem(f"XML1 is not well-formed XML (line {line}, column {column})")
    except (LookupError, ValueError):  # an encoding declaration Python cannot or will not decode
        return Problem("XML1 declares an unsupported character encoding")
    holder = None
    for element in root.iter():
        if any(strip_ns(child.tag) == "MA_LK" for child in element):
            holder = element
            break
    if holder is None:
        return Problem("XML1 has no MA_LK")
    return {strip_ns(child.tag): (child.text or "").strip() for child in holder if len(child) == 0}


def _minutes(value: str) -> dt.datetime | None:
    if not _MINUTES.fullmatch(value):
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=VIETNAM)
    except ValueError:
        return None


def read(fields: Mapping[str, str], envelope_facility: str = "") -> Xml1 | Problem:
    """Validate the fields reconciliation uses; the first problem found is the reason."""
    ma_lk = fields.get("MA_LK", "")
    if not ma_lk:
        return Problem("XML1 MA_LK is empty")
    if len(ma_lk) > MAX_MA_LK or not ma_lk.isprintable():
        return Problem(f"XML1 MA_LK must be 1-{MAX_MA_LK} printable characters")

    amount_text = fields.get("T_BHTT", "")
    amount = decimal.Decimal(amount_text) if _AMOUNT.fullmatch(amount_text) else None

    def bad(reason: str) -> Problem:
        return Problem(reason, ma_lk, amount or decimal.Decimal(0))

    facility = fields.get("MA_CSKCB", "") or envelope_facility
    try:
        ids.facility_code(facility)
    except ValueError:
        return bad("XML1 MA_CSKCB must be 5 digits")
    arrival = _minutes(fields.get("NGAY_VAO", ""))
    if arrival is None:
        return bad("XML1 NGAY_VAO must be a date and time yyyymmddHHMM")
    end = None
    if fields.get("NGAY_RA"):
        end = _minutes(fields["NGAY_RA"])
        if end is None:
            return bad("XML1 NGAY_RA must be a date and time yyyymmddHHMM")
        if end < arrival:
            return bad("XML1 NGAY_RA is before NGAY_VAO")
    if amount is None:
        return bad("XML1 T_BHTT must be a decimal amount (VND)")
    cccd = fields.get("SO_CCCD", "")
    codes = (c.strip() for c in fields.get("MA_THE_BHYT", "").split(";"))
    cards = tuple(code for code in codes if ids.CARD_NUMBER_RE.fullmatch(code))
    usable_cccd = cccd if ids.CCCD_RE.fullmatch(cccd) else None
    if usable_cccd is None and not cards:
        return bad("XML1 has neither a 12-digit SO_CCCD nor a 15-character MA_THE_BHYT to match on")
    return Xml1(ma_lk, facility, arrival, end, usable_cccd, cards, amount)


def parse_payload(payload: str | Mapping[str, str], envelope_facility: str = "") -> Xml1 | Problem:
    """An XML1 payload as the envelope parser hands it over: NOIDUNGFILE's text, or inline fields."""
    if isinstance(payload, str):
        document = decode_payload(payload)
        if isinstance(document, Problem):
            return document
        fields = fields_of(document)
        if isinstance(fields, Problem):
            return fields
    else:
        fields = payload
    return read(fields, envelope_facility)

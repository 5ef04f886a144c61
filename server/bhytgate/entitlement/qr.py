"""The two QR codes a holder can show instead of the chip: CCCD card QR and BHYT/VssID QR.

A QR code is printed, unsigned data: anyone can make one. It is a lookup key that selects whose
enrolled face template to compare against, never proof of anything. Parsing is strict and every
failure is a QrFormatError naming the field, so the service layer can report it precisely
(INVALID_ARGUMENT / QR_UNUSABLE) without echoing the holder's data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata

from bhytgate import ids
from bhytgate.entitlement.cardnumber import CardNumber, CardNumberError, parse_card_number
from bhytgate.entitlement.dates import format_vn, parse_compact_date, parse_date

MAX_QR_CHARS = 4096
"""Well above a QR code's capacity (2,953 bytes); longer input is not a scanned QR."""

_CCCD_RE = ids.CCCD_RE
_CMND_RE = re.compile(r"^(?:[0-9]{9}|[0-9]{12})$")
_YEAR_RE = re.compile(r"^[0-9]{4}$")
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")
_FACILITY_RE = re.compile(r"^([0-9]{2}) ?- ?([0-9]{3})$|^([0-9]{5})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

CCCD_FIELDS = (
    "cccd_number",
    "cmnd_number",
    "full_name",
    "date_of_birth",
    "sex",
    "address",
    "issue_date",
)
BHYT_FIELDS = (
    "card_number",
    "full_name",
    "date_of_birth",
    "sex",
    "address",
    "registered_facility",
    "valid_from",
    "valid_to",
    "issue_date",
    "management_code",
    "parent_name",
    "area_code",
    "five_year_date",
    "check_string",
    "benefit_code",
    "issuing_office",
)
BHYT_FIELD_COUNTS = (14, 16)


class QrFormatError(ValueError):
    """The QR text is not in the expected form. `field` is a record field name or "structure"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class CccdQr:
    """The QR of a CCCD (front, 7 fields, 2021-2024) or of a 2024 Căn cước card (back, 8 or more).

    The 2024 form keeps the 7 fields in place (number, earlier number, name, date of birth, sex,
    place of residence, date of issue), may list several earlier numbers (9-digit CMND, earlier
    12-digit numbers) in the second field, adds the expiry date as the eighth, and may carry
    further fields (relatives' names and numbers, per TT 16/2024/TT-BCA): those are counted in
    `extra_fields` and never kept (other people's data). A QR is never proof of anything."""

    cccd_number: str  # 12 digits
    cmnd_number: str | None  # the old 9- (or 12-) digit CMND, if printed (the first earlier number)
    full_name: str
    date_of_birth: dt.date
    sex: str  # "Nam" | "Nữ"
    address: str  # permanent address (2024: place of residence)
    issue_date: dt.date
    form: str = "cccd"  # "cccd" (7 fields) | "can_cuoc_2024"
    earlier_numbers: tuple[str, ...] = ()  # 2024 form: every earlier ID number printed, in order
    expiry_date: dt.date | None = None  # 2024 form; None: no expiry printed ("Không thời hạn")
    extra_fields: int = 0  # 2024 form: fields after the expiry, not interpreted


@dataclasses.dataclass(frozen=True, slots=True)
class BhytQr:
    """The QR on the BHYT card or in VssID (14 fields, or 16 on newer cards)."""

    card_number: CardNumber
    full_name: str
    date_of_birth: str  # dd/MM/yyyy, or yyyy if year-only
    sex: str  # "Nam" | "Nữ" (encoded 1 / 2)
    address: str
    registered_facility: str  # 5 digits (printed "TT - CCC")
    valid_from: dt.date
    valid_to: dt.date | None  # None: open-ended ("-")
    issue_date: dt.date | None
    management_code: str  # opaque
    parent_name: str | None
    area_code: str | None  # K1/K2/K3 where present; kept as printed otherwise
    five_year_date: dt.date | None
    check_string: str  # opaque: the algorithm is not public
    benefit_code: str | None = None  # 16-field form only, as printed
    issuing_office: str | None = None  # 16-field form only


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _text(field: str, value: str, *, required: bool) -> str:
    if _CONTROL.search(value):
        raise QrFormatError(field, "contains control characters")
    value = _nfc(value.strip())
    if required and not value:
        raise QrFormatError(field, "is empty")
    return value


def _sex_name(field: str, value: str) -> str:
    folded = _nfc(value.strip()).casefold()
    if folded == "nam":
        return "Nam"
    if folded == "nữ":
        return "Nữ"
    raise QrFormatError(field, "must be 'Nam' or 'Nữ'")


def _check_size(text: str) -> str:
    if len(text) > MAX_QR_CHARS:
        raise QrFormatError("structure", f"longer than {MAX_QR_CHARS} characters")
    return text.strip()


_EARLIER_SEPARATORS = re.compile(r"[,;]")
_NO_EXPIRY = frozenset({"", "khong thoi han", "không thời hạn"})
MAX_CCCD_FIELDS = 64


def parse_cccd_qr(text: str) -> CccdQr:
    """`CCCD|CMND|name|ddMMyyyy|sex|address|ddMMyyyy` (the CCCD's QR) or the 2024 Căn cước card's
    `number|earlier numbers|name|ddMMyyyy|sex|residence|ddMMyyyy|expiry ddMMyyyy[|...]` → CccdQr."""
    parts = _check_size(text).split("|")
    if not len(CCCD_FIELDS) <= len(parts) <= MAX_CCCD_FIELDS:
        raise QrFormatError(
            "structure", f"expected {len(CCCD_FIELDS)} or more fields separated by '|', got {len(parts)}"
        )
    cccd, earlier_text, name, dob, sex, address, issued = parts[: len(CCCD_FIELDS)]
    if not _CCCD_RE.fullmatch(cccd):
        raise QrFormatError("cccd_number", "must be 12 digits")
    is_2024 = len(parts) > len(CCCD_FIELDS)
    earlier = tuple(n.strip() for n in _EARLIER_SEPARATORS.split(earlier_text) if n.strip())
    if not is_2024 and len(earlier) > 1:
        raise QrFormatError("cmnd_number", "must be empty, 9 or 12 digits")
    for number in earlier:
        if not _CMND_RE.fullmatch(number):
            field = "earlier_numbers" if is_2024 else "cmnd_number"
            raise QrFormatError(field, "must be empty, 9 or 12 digits")

    def date(field: str, value: str) -> dt.date:
        try:
            return parse_compact_date(value)
        except ValueError:
            raise QrFormatError(field, "must be a date ddMMyyyy") from None

    expiry: dt.date | None = None
    if is_2024:
        printed = _nfc(parts[len(CCCD_FIELDS)].strip())
        if printed.casefold() not in _NO_EXPIRY:
            expiry = date("expiry_date", printed)
    return CccdQr(
        cccd_number=cccd,
        cmnd_number=earlier[0] if earlier else None,
        full_name=_text("full_name", name, required=True),
        date_of_birth=date("date_of_birth", dob),
        sex=_sex_name("sex", sex),
        address=_text("address", address, required=False),
        issue_date=date("issue_date", issued),
        form="can_cuoc_2024" if is_2024 else "cccd",
        earlier_numbers=earlier if is_2024 else (),
        expiry_date=expiry,
        extra_fields=max(0, len(parts) - len(CCCD_FIELDS) - 1),
    )


def format_cccd_qr(rec: CccdQr) -> str:
    """Inverse of parse_cccd_qr (for test cards and round-trip tests); the 2024 form without
    its uninterpreted extra fields."""
    fields = [
        rec.cccd_number,
        ",".join(rec.earlier_numbers) if rec.earlier_numbers else (rec.cmnd_number or ""),
        rec.full_name,
        rec.date_of_birth.strftime("%d%m%Y"),
        rec.sex,
        rec.address,
        rec.issue_date.strftime("%d%m%Y"),
    ]
    if rec.form == "can_cuoc_2024":
        fields.append(rec.expiry_date.strftime("%d%m%Y") if rec.expiry_date else "")
    return "|".join(fields)


def _unhex(field: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if not _HEX_RE.fullmatch(value):
        raise QrFormatError(field, "must be hexadecimal UTF-8 (an even number of hex digits)")
    try:
        decoded = bytes.fromhex(value).decode("utf-8")
    except UnicodeDecodeError:
        raise QrFormatError(field, "hex does not decode as UTF-8") from None
    return _text(field, decoded, required=required)


def _optional(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "-") else value


def _vn_date(field: str, value: str) -> dt.date:
    try:
        return parse_date(value)
    except ValueError:
        raise QrFormatError(field, "must be a date dd/MM/yyyy") from None


def _optional_date(field: str, value: str) -> dt.date | None:
    opt = _optional(value)
    return None if opt is None else _vn_date(field, opt)


def parse_bhyt_qr(text: str) -> BhytQr:
    """`card|hex name|dob|1/2|hex address|TT - CCC|from|to|issued|...|check|$` → BhytQr."""
    body = _check_size(text)
    if not body.endswith("$"):
        raise QrFormatError("structure", "must end with '$'")
    body = body[:-1]
    body = body.removesuffix("|")
    parts = body.split("|")
    if len(parts) not in BHYT_FIELD_COUNTS:
        raise QrFormatError("structure", f"expected 14 or 16 fields separated by '|', got {len(parts)}")
    fields = dict(zip(BHYT_FIELDS, parts, strict=False))

    try:
        card = parse_card_number(fields["card_number"])
    except CardNumberError as exc:
        raise QrFormatError("card_number", exc.message) from None
    if card.value != fields["card_number"].strip():
        raise QrFormatError("card_number", "must be 15 characters without separators")

    dob = fields["date_of_birth"].strip()
    if not _YEAR_RE.fullmatch(dob):
        dob = format_vn(_vn_date("date_of_birth", dob))
    sex_code = fields["sex"].strip()
    if sex_code not in ("1", "2"):
        raise QrFormatError("sex", "must be 1 (male) or 2 (female)")

    facility = _FACILITY_RE.fullmatch(fields["registered_facility"].strip())
    if facility is None:
        raise QrFormatError("registered_facility", "must be 'TT - CCC' (province - facility) or 5 digits")
    facility_code = facility[3] or f"{facility[1]}{facility[2]}"

    valid_from = _vn_date("valid_from", fields["valid_from"])
    valid_to = _optional_date("valid_to", fields["valid_to"])
    if valid_to is not None and valid_to < valid_from:
        raise QrFormatError("valid_to", "is before valid_from")

    parent = _optional(fields["parent_name"])
    office = _optional(fields.get("issuing_office", ""))
    return BhytQr(
        card_number=card,
        full_name=_unhex("full_name", fields["full_name"], required=True),
        date_of_birth=dob,
        sex="Nam" if sex_code == "1" else "Nữ",
        address=_unhex("address", fields["address"], required=False),
        registered_facility=facility_code,
        valid_from=valid_from,
        valid_to=valid_to,
        issue_date=_optional_date("issue_date", fields["issue_date"]),
        management_code=_text("management_code", fields["management_code"], required=False),
        parent_name=None if parent is None else _unhex("parent_name", parent, required=False) or None,
        area_code=_optional(_text("area_code", fields["area_code"], required=False)),
        five_year_date=_optional_date("five_year_date", fields["five_year_date"]),
        check_string=_text("check_string", fields["check_string"], required=False),
        benefit_code=_optional(_text("benefit_code", fields.get("benefit_code", ""), required=False)),
        issuing_office=None if office is None else _unhex("issuing_office", office, required=False) or None,
    )


def format_bhyt_qr(rec: BhytQr) -> str:
    """Inverse of parse_bhyt_qr: the 16-field form when either newer field is set, else 14."""

    def hexed(value: str | None) -> str:
        return value.encode("utf-8").hex() if value else "-"

    def date(value: dt.date | None) -> str:
        return format_vn(value) if value else "-"

    parts = [
        rec.card_number.value,
        rec.full_name.encode("utf-8").hex(),
        rec.date_of_birth,
        "1" if rec.sex == "Nam" else "2",
        rec.address.encode("utf-8").hex(),
        f"{rec.registered_facility[:2]} - {rec.registered_facility[2:]}",
        format_vn(rec.valid_from),
        date(rec.valid_to),
        date(rec.issue_date),
        rec.management_code,
        hexed(rec.parent_name),
        rec.area_code or "-",
        date(rec.five_year_date),
        rec.check_string,
    ]
    if rec.benefit_code is not None or rec.issuing_office is not None:
        parts += [rec.benefit_code or "-", hexed(rec.issuing_office)]
    return "|".join(parts) + "|$"

"""The machine-readable zone in DG1: TD1 (ID cards such as the CCCD), TD2 and TD3 (passports).

Every check digit is verified (ICAO 9303 part 3, 7-3-1 weighting). Dates stay as the document
wrote them (YYMMDD) plus a resolved `datetime.date`; the "no expiry" sentinel some CCCDs carry
(991231) is an explicit, configurable rule, never a silent "expired in 1999".
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from bhytgate.chip.errors import ChipFormatError
from bhytgate.chip.lds.tlv import unwrap

_WEIGHTS = (7, 3, 1)


def check_digit(field: str) -> str:
    total = 0
    for i, ch in enumerate(field):
        if "0" <= ch <= "9":  # not isdigit(): that accepts Arabic-Indic and fullwidth digits
            value = ord(ch) - 48
        elif "A" <= ch <= "Z":
            value = ord(ch) - 55
        elif ch == "<":
            value = 0
        else:
            raise ChipFormatError(f"MRZ character {ch!r} is not allowed", reason="mrz_malformed")
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


@dataclasses.dataclass(frozen=True)
class ExpiryPolicy:
    """Which YYMMDD expiry values mean "no expiry" rather than a date."""

    no_expiry_values: frozenset[str] = frozenset({"991231"})


@dataclasses.dataclass(frozen=True)
class Mrz:
    format: str  # "TD1" | "TD2" | "TD3"
    document_code: str
    issuing_state: str  # ICAO 3-letter code as printed ("VNM", "D" for Germany)
    document_number: str
    optional_data: str  # TD1 line 1 optional data (the CCCD's 12-digit number lives here)
    optional_data_2: str
    date_of_birth_raw: str
    date_of_birth: dt.date | None  # None where the MRZ has unknown parts ("<<")
    sex: str  # "M" | "F" | "X"
    date_of_expiry_raw: str
    date_of_expiry: dt.date | None  # None when the value is a no-expiry sentinel or unknown
    no_expiry: bool
    nationality: str
    primary_identifier: str
    secondary_identifier: str
    lines: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return f"{self.primary_identifier} {self.secondary_identifier}".strip()


def _field_ok(value: str, digit: str, name: str) -> None:
    if digit == "<" and set(value) <= {"<"}:
        return  # optional field left empty
    if check_digit(value) != digit:
        raise ChipFormatError(f"MRZ check digit for {name} is wrong", reason="mrz_check_digit")


def _date(raw: str, *, birth: bool, today: dt.date) -> dt.date | None:
    if not (raw.isascii() and raw.isdigit()) or len(raw) != 6:
        return None
    yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:])
    if birth:
        century = 2000 if 2000 + yy <= today.year else 1900
    else:
        century = 2000  # machine-readable documents with an expiry before 2000 no longer exist
    try:
        return dt.date(century + yy, mm, dd)
    except ValueError:
        return None


def _names(field: str) -> tuple[str, str]:
    primary, _, secondary = field.partition("<<")
    return primary.replace("<", " ").strip(), secondary.replace("<", " ").strip()


def parse_mrz(text: str, *, policy: ExpiryPolicy | None = None, today: dt.date | None = None) -> Mrz:
    policy = policy or ExpiryPolicy()
    today = today or dt.date.today()
    compact = text.replace("\n", "").replace("\r", "")
    if any(not ("0" <= c <= "9" or "A" <= c <= "Z" or c == "<") for c in compact):
        raise ChipFormatError("MRZ holds characters outside A-Z, 0-9 and <", reason="mrz_malformed")
    if len(compact) == 90:
        return _td1(compact, policy, today)
    if len(compact) == 72:
        return _td2_td3(compact, 36, "TD2", policy, today)
    if len(compact) == 88:
        return _td2_td3(compact, 44, "TD3", policy, today)
    raise ChipFormatError(f"MRZ of {len(compact)} characters is no ICAO format", reason="mrz_malformed")


def _td1(m: str, policy: ExpiryPolicy, today: dt.date) -> Mrz:
    l1, l2, l3 = m[:30], m[30:60], m[60:90]
    doc_number, doc_digit, optional = l1[5:14], l1[14], l1[15:30]
    if doc_digit == "<" and optional.strip("<"):
        # Long document number: it continues in the optional data, its check digit last.
        rest = optional.rstrip("<")
        doc_number, doc_digit, optional = doc_number + rest[:-1], rest[-1], ""
    _field_ok(doc_number, doc_digit, "document number")
    dob, dob_digit = l2[0:6], l2[6]
    expiry, expiry_digit = l2[8:14], l2[14]
    _field_ok(dob, dob_digit, "date of birth")
    _field_ok(expiry, expiry_digit, "date of expiry")
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    _field_ok(composite, l2[29], "composite")
    primary, secondary = _names(l3)
    return _build(
        "TD1",
        l1[0:2],
        l1[2:5],
        doc_number,
        optional,
        l2[18:29],
        dob,
        l2[7],
        expiry,
        l2[15:18],
        primary,
        secondary,
        (l1, l2, l3),
        policy,
        today,
    )


def _td2_td3(m: str, width: int, fmt: str, policy: ExpiryPolicy, today: dt.date) -> Mrz:
    l1, l2 = m[:width], m[width:]
    doc_number, doc_digit = l2[0:9], l2[9]
    dob, dob_digit = l2[13:19], l2[19]
    expiry, expiry_digit = l2[21:27], l2[27]
    _field_ok(dob, dob_digit, "date of birth")
    _field_ok(expiry, expiry_digit, "date of expiry")
    if fmt == "TD3":
        optional, optional_digit = l2[28:42], l2[42]
        _field_ok(doc_number, doc_digit, "document number")
        _field_ok(optional, optional_digit, "personal number")
        composite = l2[0:10] + l2[13:20] + l2[21:43]
        _field_ok(composite, l2[43], "composite")
    else:
        optional = l2[28:35]
        if doc_digit == "<" and optional.strip("<"):
            rest = optional.rstrip("<")
            doc_number, doc_digit, optional = doc_number + rest[:-1], rest[-1], ""
        _field_ok(doc_number, doc_digit, "document number")
        composite = l2[0:10] + l2[13:20] + l2[21:35]
        _field_ok(composite, l2[35], "composite")
    primary, secondary = _names(l1[5:])
    return _build(
        fmt,
        l1[0:2],
        l1[2:5],
        doc_number,
        optional,
        "",
        dob,
        l2[20],
        expiry,
        l2[10:13],
        primary,
        secondary,
        (l1, l2),
        policy,
        today,
    )


def _build(
    fmt: str,
    code: str,
    state: str,
    number: str,
    optional: str,
    optional2: str,
    dob: str,
    sex: str,
    expiry: str,
    nationality: str,
    primary: str,
    secondary: str,
    lines: tuple[str, ...],
    policy: ExpiryPolicy,
    today: dt.date,
) -> Mrz:
    no_expiry = expiry in policy.no_expiry_values
    return Mrz(
        format=fmt,
        document_code=code.replace("<", ""),
        issuing_state=state.replace("<", ""),
        document_number=number.replace("<", ""),
        optional_data=optional.replace("<", ""),
        optional_data_2=optional2.replace("<", ""),
        date_of_birth_raw=dob,
        date_of_birth=_date(dob, birth=True, today=today),
        sex={"M": "M", "F": "F"}.get(sex, "X"),
        date_of_expiry_raw=expiry,
        date_of_expiry=None if no_expiry else _date(expiry, birth=False, today=today),
        no_expiry=no_expiry,
        nationality=nationality.replace("<", ""),
        primary_identifier=primary,
        secondary_identifier=secondary,
        lines=lines,
    )


def parse_dg1(data: bytes, *, policy: ExpiryPolicy | None = None, today: dt.date | None = None) -> Mrz:
    """DG1 = 61 { 5F1F mrz }."""
    outer = unwrap(data, "DG1")
    for child in outer.children("DG1"):
        if child.class_ == 1 and child.tag == 0x1F and not child.constructed:
            try:
                text = child.contents.decode("ascii")
            except UnicodeDecodeError as exc:
                raise ChipFormatError("DG1 MRZ is not ASCII", reason="mrz_malformed") from exc
            return parse_mrz(text, policy=policy, today=today)
    raise ChipFormatError("DG1 has no MRZ data object (5F1F)", reason="mrz_malformed")

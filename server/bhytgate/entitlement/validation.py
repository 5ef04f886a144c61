"""Field-by-field validation of one entitlement record from outside (files, JSON, card lab).

Shared by the bulk importer and by `serialization.from_dict`, so an imported row and a card-lab
`entitlement.json` obey exactly the same rules. Every bad field is reported, not just the first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import TypeVar

from bhytgate.entitlement.benefit import BenefitPolicy
from bhytgate.entitlement.cardnumber import (
    CardNumber,
    CardNumberError,
    parse_card_number,
    parse_cccd_number,
    parse_social_insurance_number,
)
from bhytgate.entitlement.dates import normalize_birth, parse_date
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.result_codes import parse_reduced_reason

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Entitlement))

REQUIRED_FIELDS: frozenset[str] = frozenset(
    {"card_number", "full_name", "date_of_birth", "sex", "registered_facility", "valid_from"}
)
"""Must be present and non-empty. Group, benefit code, province and BHXH number may be omitted:
they are derived from the card number (and checked against it when given)."""

MAX_TEXT = {"full_name": 200, "address": 500}
DEFAULT_MAX_TEXT = 200

_FACILITY_RE = re.compile(r"([0-9]{2}) ?- ?([0-9]{3})|([0-9]{5})")
_PROVINCE_RE = re.compile(r"[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_AREA_CODES = frozenset({"K1", "K2", "K3"})
_MANAGED_BY = frozenset({"army", "police"})
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n", ""})

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # an Entitlement field name, or "" for the record as a whole
    message: str


class RecordError(ValueError):
    """A record failed validation; `errors` lists every bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field or 'record'}: {e.message}" for e in errors))
        self.errors = errors


class _Collector:
    """Reads fields from a raw mapping, recording errors instead of raising."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw
        self.errors: list[FieldError] = []

    def error(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def text(self, field: str) -> str | None:
        """Stripped NFC text, None when absent or empty; errors for control characters and length."""
        value = self.raw.get(field)
        if value is None:
            if field in REQUIRED_FIELDS:
                self.error(field, "is required")
            return None
        value = unicodedata.normalize("NFC", value.strip())
        if not value:
            if field in REQUIRED_FIELDS:
                self.error(field, "is required")
            return None
        if _CONTROL.search(value):
            self.error(field, "contains control characters")
            return None
        limit = MAX_TEXT.get(field, DEFAULT_MAX_TEXT)
        if len(value) > limit:
            self.error(field, f"is longer than {limit} characters")
            return None
        return value

    def parsed(self, field: str, parse: Callable[[str], T]) -> T | None:
        text = self.text(field)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.error(field, str(exc.args[0]) if exc.args else "is invalid")
            return None


def _card(text: str) -> CardNumber:
    try:
        return parse_card_number(text)
    except CardNumberError as exc:
        raise ValueError(exc.message) from None


def _digits(parse: Callable[[str], str]) -> Callable[[str], str]:
    def inner(text: str) -> str:
        try:
            return parse(text)
        except CardNumberError as exc:
            raise ValueError(exc.message) from None

    return inner


def parse_facility(text: str) -> str:
    """`79014`, `79 - 014` or `79-014` → `79014`."""
    m = _FACILITY_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError("must be 5 digits (province + facility), e.g. 79014 or '79 - 014'")
    return m[3] or f"{m[1]}{m[2]}"


def _sex(text: str) -> str:
    folded = text.casefold()
    if folded == "nam":
        return "Nam"
    if folded == "nữ":
        return "Nữ"
    raise ValueError("must be 'Nam' or 'Nữ'")


def _benefit_code(text: str) -> int:
    if text not in ("1", "2", "3", "4", "5"):
        raise ValueError("must be an integer 1-5")
    return int(text)


def _bool(text: str) -> bool:
    folded = text.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError("must be true or false")


def _choice(options: frozenset[str], *, upper: bool = False) -> Callable[[str], str]:
    def inner(text: str) -> str:
        value = text.upper() if upper else text.lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(sorted(options))}")
        return value

    return inner


def _province(text: str) -> str:
    if not _PROVINCE_RE.fullmatch(text):
        raise ValueError("must be 2 digits")
    return text


def _group(text: str) -> str:
    value = text.upper()
    if len(value) != 2 or not (value.isascii() and value.isalpha()):
        raise ValueError("must be 2 letters A-Z")
    return value


def _reduced(text: str) -> str:
    return parse_reduced_reason(text).value


def build_entitlement(
    raw: Mapping[str, str | None], *, policy: BenefitPolicy | None = None
) -> tuple[Entitlement | None, list[FieldError]]:
    """Validate a record given as field name → text (None or "" = absent).

    Returns the Entitlement, or None with every error found. Unknown field names are errors.
    With `policy`, the card's benefit code must also be the one its group carries on valid_from.
    """
    c = _Collector(raw)
    for name in raw:
        if name not in FIELD_NAMES:
            c.error(name, "unknown field")

    card = c.parsed("card_number", _card)
    bhxh = c.parsed("social_insurance_number", _digits(parse_social_insurance_number))
    cccd = c.parsed("cccd_number", _digits(parse_cccd_number))
    full_name = c.text("full_name")
    dob = c.parsed("date_of_birth", normalize_birth)
    sex = c.parsed("sex", _sex)
    address = c.text("address") or ""
    group = c.parsed("beneficiary_group", _group)
    benefit = c.parsed("benefit_code", _benefit_code)
    province = c.parsed("province_code", _province)
    facility = c.parsed("registered_facility", parse_facility)
    facility_name = c.text("registered_facility_name") or ""
    office = c.text("issuing_office") or ""
    valid_from = c.parsed("valid_from", parse_date)
    valid_to = c.parsed("valid_to", parse_date)
    area = c.parsed("area_code", _choice(_AREA_CODES, upper=True))
    five_year = c.parsed("five_year_date", parse_date)
    copay = c.parsed("copay_exempt_from", parse_date)
    old_card = c.parsed("old_card_number", _card)
    new_card = c.parsed("new_card_number", _card)
    new_from = c.parsed("new_valid_from", parse_date)
    new_to = c.parsed("new_valid_to", parse_date)
    new_facility = c.parsed("new_registered_facility", parse_facility)
    new_facility_name = c.text("new_registered_facility_name")
    revoked = c.parsed("revoked", _bool)
    reduced = c.parsed("reduced_reason", _reduced)
    managed_by = c.parsed("managed_by", _choice(_MANAGED_BY))

    if card is not None:
        consistency: list[tuple[str, object, object]] = [
            ("social_insurance_number", bhxh, card.social_insurance_number),
            ("beneficiary_group", group, card.group),
            ("benefit_code", benefit, card.benefit_code),
            ("province_code", province, card.province_code),
        ]
        for field, given, from_card in consistency:
            if given is not None and given != from_card:
                c.error(field, f"does not match the card number ({from_card})")
        if policy is not None and valid_from is not None:
            expected = policy.expected_code(card.group, valid_from)
            if expected is not None and expected != card.benefit_code:
                c.error("benefit_code", f"group {card.group} carries benefit code {expected} on valid_from")
        if new_card is not None and new_card.value == card.value:
            c.error("new_card_number", "is the same as card_number")
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        c.error("valid_to", "is before valid_from")
    if new_from is not None and new_to is not None and new_to < new_from:
        c.error("new_valid_to", "is before new_valid_from")
    renewal = {
        "new_valid_from": new_from,
        "new_valid_to": new_to,
        "new_registered_facility": new_facility,
        "new_registered_facility_name": new_facility_name,
    }
    if new_card is None:
        for field, value in renewal.items():
            if value is not None:
                c.error(field, "is set but new_card_number is not")
    elif new_from is None:
        c.error("new_valid_from", "is required when new_card_number is set")

    if c.errors:
        return None, c.errors
    # Required fields are non-None here (their absence is an error above).
    assert card is not None and full_name is not None and dob is not None and sex is not None
    assert facility is not None and valid_from is not None
    return (
        Entitlement(
            card_number=card.value,
            social_insurance_number=card.social_insurance_number,
            cccd_number=cccd,
            full_name=full_name,
            date_of_birth=dob,
            sex=sex,
            address=address,
            beneficiary_group=card.group,
            benefit_code=card.benefit_code,
            province_code=card.province_code,
            registered_facility=facility,
            registered_facility_name=facility_name,
            issuing_office=office,
            valid_from=valid_from,
            valid_to=valid_to,
            area_code=area,
            five_year_date=five_year,
            copay_exempt_from=copay,
            old_card_number=old_card.value if old_card else None,
            new_card_number=new_card.value if new_card else None,
            new_valid_from=new_from,
            new_valid_to=new_to,
            new_registered_facility=new_facility,
            new_registered_facility_name=new_facility_name,
            revoked=bool(revoked),
            reduced_reason=reduced,
            managed_by=managed_by,
        ),
        [],
    )


def validate_entitlement(
    raw: Mapping[str, str | None], *, policy: BenefitPolicy | None = None
) -> Entitlement:
    """build_entitlement that raises RecordError instead of returning the errors."""
    ent, errors = build_entitlement(raw, policy=policy)
    if ent is None:
        raise RecordError(errors)
    return ent


def date_text(value: dt.date | None) -> str | None:
    """ISO text for an optional date (the file and JSON form)."""
    return None if value is None else value.isoformat()


def coerce_json_record(obj: object) -> tuple[dict[str, str | None], list[FieldError]]:
    """A decoded JSON object → field name → text, for build_entitlement.

    Strings pass through; integers and booleans become their text (benefit_code 4, revoked
    true); null means absent. Arrays, objects and floats are errors: no field holds them.
    """
    if not isinstance(obj, dict):
        return {}, [FieldError("", "must be a JSON object")]
    raw: dict[str, str | None] = {}
    errors: list[FieldError] = []
    for key, value in obj.items():
        if value is None or isinstance(value, str):
            raw[key] = value
        elif isinstance(value, bool):
            raw[key] = "true" if value else "false"
        elif isinstance(value, int):
            raw[key] = str(value)
        else:
            errors.append(FieldError(key, f"must be a string, not {type(value).__name__}"))
    return raw, errors

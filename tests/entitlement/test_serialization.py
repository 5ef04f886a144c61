from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate.entitlement.cardnumber import CARD_NUMBER_RE
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.serialization import from_dict, from_json, to_dict, to_json
from bhytgate.entitlement.validation import RecordError, validate_entitlement


def test_round_trip_with_every_field(make_entitlement: object) -> None:
    assert callable(make_entitlement)
    ent: Entitlement = make_entitlement(
        area_code="K2",
        five_year_date=dt.date(2020, 1, 1),
        copay_exempt_from=dt.date(2025, 3, 1),
        old_card_number="DN4797912345670",
        new_card_number="DN4797912345679",
        new_valid_from=dt.date(2026, 1, 1),
        new_valid_to=None,
        new_registered_facility="79015",
        new_registered_facility_name="Bệnh viện Quận 3",
        revoked=True,
        reduced_reason="stopped",
        managed_by="army",
    )
    text = to_json(ent)
    assert "Nguyễn" in text and '"valid_from": "2025-01-01"' in text
    assert from_json(text) == ent
    assert from_json(text.encode()) == ent
    assert from_dict(to_dict(ent)) == ent


def test_errors_list_every_field(make_entitlement: object) -> None:
    assert callable(make_entitlement)
    data = to_dict(make_entitlement())
    data.update(valid_from="01-01-2025", sex="M", benefit_code=[4], extra=1)
    with pytest.raises(RecordError) as info:
        from_dict(data)
    assert {e.field for e in info.value.errors} == {"benefit_code", "extra", "valid_from", "sex"}


@pytest.mark.parametrize("text", ["", "[]", "{", '"x"', b"\xff"])
def test_not_an_object(text: str | bytes) -> None:
    with pytest.raises(RecordError):
        from_json(text)


_text = st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=40)


@settings(deadline=None)
@given(
    st.from_regex(CARD_NUMBER_RE, fullmatch=True),
    _text,
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)),
    st.one_of(st.none(), st.dates(dt.date(2100, 1, 2), dt.date(2200, 1, 1))),
    st.booleans(),
)
def test_round_trip_property(
    card: str, name: str, start: dt.date, end: dt.date | None, revoked: bool
) -> None:
    raw = {
        "card_number": card,
        "full_name": name or "x",
        "date_of_birth": "1990",
        "sex": "nữ",
        "address": name,
        "registered_facility": "79014",
        "valid_from": start.isoformat(),
        "valid_to": end.isoformat() if end else None,
        "revoked": "true" if revoked else "",
    }
    try:
        ent = validate_entitlement(raw)
    except RecordError as exc:
        assert {e.field for e in exc.errors} <= {"full_name", "address"}  # e.g. blank or too long
        return
    assert from_json(to_json(ent)) == ent
    assert json.loads(to_json(ent, indent=None))["card_number"] == card

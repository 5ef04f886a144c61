from __future__ import annotations

from typing import Any

import pytest

from bhytgate.entitlement.authority import ImportRefused, death_refusal, foreign_holders, import_province


def test_the_fund_imports_every_province_an_office_its_own() -> None:
    assert import_province("00000") is None
    assert import_province("01000") == "01"
    assert import_province("79000") == "79"


@pytest.mark.parametrize("facility", ["01001", "79014", "01100", "0100", "٠١٠٠٠", "01000\n", ""])
def test_any_other_facility_is_refused(facility: str) -> None:
    with pytest.raises(ImportRefused, match="may not import entitlements"):
        import_province(facility)


def test_a_holder_of_another_provinces_card_is_refused_however_it_is_held(make_entitlement: Any) -> None:
    """Second review, 2026-12-03: a legacy card (no CCCD on it) reached through the holder's
    CCCD→BHXH link was missed when the office's row named a fresh social-insurance number."""
    legacy = make_entitlement(
        card_number="HC4790555555555",
        social_insurance_number="0555555555",
        cccd_number=None,
        province_code="79",
    )
    row = make_entitlement(
        card_number="DN4010100000077", social_insurance_number="0100000077", cccd_number="001090000077"
    )
    held = [("001090000077", legacy)]  # held under the CCCD through its link
    errors = foreign_holders([row], [2], held, "01")
    assert [(e.row, e.field) for e in errors] == [(2, "cccd_number")]
    assert "a card of province 79" in errors[0].message
    assert foreign_holders([row], [2], [(None, legacy)], "01") == []  # another person's card
    same = make_entitlement(card_number="DN4010100000078", cccd_number="001090000077", province_code="01")
    assert foreign_holders([row], [2], [("001090000077", same)], "01") == []  # own province: fine


def test_a_death_is_the_funds_or_the_holders_own_provinces_office_to_record(make_entitlement: Any) -> None:
    own = make_entitlement(card_number="DN4010100000081", province_code="01")
    moved = make_entitlement(card_number="DN4790100000081", province_code="79")
    assert death_refusal("00000", []) is None  # the fund: anyone, even with no card on file
    assert death_refusal("00000", [moved]) is None
    assert death_refusal("01000", [own]) is None
    refusal = death_refusal("01000", [own, moved])  # one card elsewhere is enough to refuse
    assert refusal is not None and "a card of province 79" in refusal
    refusal = death_refusal("01000", [])
    assert refusal is not None and "no card of the holder is on file" in refusal
    for hospital in ("01001", "01100", "٠١٠٠٠"):
        refusal = death_refusal(hospital, [own])
        assert refusal is not None and "report a lost or stolen card" in refusal

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate.entitlement.cardnumber import (
    CARD_NUMBER_RE,
    CardNumberError,
    LookupKind,
    is_card_number,
    parse_card_number,
    parse_lookup_key,
)


def test_parts_of_a_card_number() -> None:
    card = parse_card_number("DN4797912345678")
    assert (card.group, card.benefit_code, card.province_code, card.social_insurance_number) == (
        "DN",
        4,
        "79",
        "7912345678",
    )
    assert str(card) == "DN4797912345678"


def test_printed_spacing_and_case_are_normalised() -> None:
    assert parse_card_number(" dn 4 79 79123-45678 ").value == "DN4797912345678"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("DN479791234567", "15 characters"),
        ("D14797912345678", "beneficiary group"),
        ("DN6797912345678", "benefit code"),
        ("DN47X7912345678", "province code"),
        ("DN479791234567X", "social-insurance number"),
        ("ĐN4797912345678", "beneficiary group"),
    ],
)
def test_errors_name_the_wrong_part(text: str, part: str) -> None:
    with pytest.raises(CardNumberError, match=part):
        parse_card_number(text)


def test_lookup_forms() -> None:
    assert parse_lookup_key("DN4797912345678").kind is LookupKind.CARD_NUMBER
    key = parse_lookup_key("7912345678")
    assert key.kind is LookupKind.SOCIAL_INSURANCE_NUMBER and key.social_insurance_number == "7912345678"
    cccd = parse_lookup_key("079099001234")
    assert cccd.kind is LookupKind.CCCD_NUMBER and cccd.social_insurance_number is None
    assert parse_lookup_key("DN4797912345678").social_insurance_number == "7912345678"


def test_errors_do_not_echo_the_number() -> None:
    with pytest.raises(CardNumberError) as info:
        parse_lookup_key("07909900123")
    assert "07909900123" not in str(info.value)
    with pytest.raises(CardNumberError):
        parse_lookup_key("79123456７8")  # full-width digit is not a digit here


@settings(deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_key_or_a_typed_error(text: str) -> None:
    try:
        key = parse_lookup_key(text)
    except CardNumberError:
        return
    assert len(key.value) in (10, 12, 15)


@settings(deadline=None)
@given(st.from_regex(CARD_NUMBER_RE, fullmatch=True))
def test_every_regex_match_parses_and_round_trips(text: str) -> None:
    card = parse_card_number(text)
    assert card.value == text
    assert is_card_number(text)
    assert f"{card.group}{card.benefit_code}{card.province_code}{card.social_insurance_number}" == text

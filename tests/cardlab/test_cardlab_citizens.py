from __future__ import annotations

import datetime as dt
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate_clients.cardlab.citizens import (
    card_expiry,
    entitlement_for,
    entitlement_from_json,
    entitlement_json,
    make_citizen,
)


def test_same_seed_same_citizen() -> None:
    assert make_citizen(42) == make_citizen(42)
    assert make_citizen(42) != make_citizen(43)


@settings(max_examples=60)
@given(seed=st.integers(0, 10**6))
def test_citizen_numbers_are_plausible(seed: int) -> None:
    citizen = make_citizen(seed)
    assert re.fullmatch(r"0\d{2}[0-3]\d{8}", citizen.cccd)
    assert citizen.cccd[1:3] == citizen.province.code
    assert int(citizen.cccd[3]) % 2 == (0 if citizen.sex == "M" else 1)
    assert citizen.cccd[4:6] == f"{citizen.date_of_birth.year % 100:02d}"
    assert re.fullmatch(r"\d{10}", citizen.bhxh) and citizen.bhxh[:2] == citizen.province.code
    assert citizen.expiry_date is None or citizen.expiry_date > citizen.issue_date
    entitlement = entitlement_for(citizen, seed, dt.date(2026, 6, 1))
    assert re.fullmatch(r"^[A-Z]{2}[1-5][0-9]{2}[0-9]{10}$", entitlement.card_number)
    assert entitlement_from_json(entitlement_json(entitlement)) == entitlement


def test_card_expiry_follows_the_age_milestones() -> None:
    born = dt.date(2000, 3, 1)
    assert card_expiry(born, dt.date(2021, 1, 1)) == dt.date(2025, 3, 1)
    assert card_expiry(born, dt.date(2023, 6, 1)) == dt.date(2040, 3, 1)  # within 2 years of 25
    assert card_expiry(dt.date(1960, 1, 1), dt.date(2021, 1, 1)) is None

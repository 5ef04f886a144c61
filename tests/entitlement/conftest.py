"""A valid entitlement to start from; tests override the fields they are about."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from bhytgate.entitlement.model import Entitlement

BASE = Entitlement(
    card_number="DN4797912345678",
    social_insurance_number="7912345678",
    cccd_number="079099001234",
    full_name="Nguyễn Văn An",
    date_of_birth="15/03/1990",
    sex="Nam",
    address="12 Lê Lợi, Quận 1, TP Hồ Chí Minh",
    beneficiary_group="DN",
    benefit_code=4,
    province_code="79",
    registered_facility="79014",
    registered_facility_name="Bệnh viện Quận 1",
    issuing_office="BHXH Quận 1",
    valid_from=dt.date(2025, 1, 1),
    valid_to=dt.date(2025, 12, 31),
)

MakeEntitlement = Callable[..., Entitlement]


@pytest.fixture
def make_entitlement() -> MakeEntitlement:
    def make(**changes: Any) -> Entitlement:
        return dataclasses.replace(BASE, **changes)

    return make

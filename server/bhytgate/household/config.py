"""Settings of the household renewal: the dated base-salary table, the waiting rule, which card
groups a household renewal may extend. Shared by every replica of a cluster (amounts depend on it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from bhytgate.household.premium import BaseSalaryTable
from bhytgate.household.validity import WaitingRule


@dataclasses.dataclass(frozen=True)
class HouseholdConfig:
    base_salary: BaseSalaryTable = dataclasses.field(default_factory=BaseSalaryTable)
    waiting: WaitingRule = dataclasses.field(default_factory=WaitingRule)
    # Beneficiary groups a household renewal extends (GD: hộ gia đình). A member whose card is of
    # another group (an employee's DN card, a pupil's HS card) is refused, not silently moved.
    groups: frozenset[str] = frozenset({"GD"})

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> HouseholdConfig:
        """`[household]`: base_salary = {"2024-07-01" = 2340000, ...}, lapse_months, waiting_days,
        groups = ["GD"]."""
        kwargs: dict[str, Any] = {}
        if "base_salary" in data:
            kwargs["base_salary"] = BaseSalaryTable.from_pairs(
                (dt.date.fromisoformat(str(day)), int(amount)) for day, amount in data["base_salary"].items()
            )
        if "lapse_months" in data or "waiting_days" in data:
            kwargs["waiting"] = WaitingRule(
                int(data.get("lapse_months", 3)), int(data.get("waiting_days", 30))
            )
        if "groups" in data:
            kwargs["groups"] = frozenset(str(g) for g in data["groups"])
        return cls(**kwargs)

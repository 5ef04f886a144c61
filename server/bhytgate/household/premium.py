"""The household BHYT premium (Decree 188/2025/NĐ-CP Art. 6(5); Decree 146/2018 had the same scale).

The first member pays 4.5% of the base salary (lương cơ sở) per month; the 2nd, 3rd and 4th pay
70%, 60% and 50% of the first member's amount; the 5th and every later member 40%. The base salary
is a dated table: the amount in force on the payment date is used for the whole period (a later
rise is not charged on months already paid).

Rounding, stated once: every amount is computed in exact integer arithmetic; each member's
*monthly* amount is rounded to whole VND, half up (base × 45/1000 × share/100); the member's
amount for the period is that monthly amount × months (no further rounding); the total is the sum
of the members' amounts. With the 2024 base salary every monthly amount is already whole
(105,300 / 73,710 / 63,180 / 52,650 / 42,120 VND), so rounding only matters for other bases.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from fractions import Fraction

# 4.5% of the base salary for the first member.
FIRST_MEMBER_RATE = Fraction(45, 1000)
# Share of the first member's amount by position (1-based); the last applies to every later member.
MEMBER_SHARES: tuple[Fraction, ...] = (
    Fraction(100, 100),
    Fraction(70, 100),
    Fraction(60, 100),
    Fraction(50, 100),
    Fraction(40, 100),
)
PERIOD_MONTHS = frozenset({3, 6, 12})
MAX_MEMBERS = 20  # bounds a request; no household at a counter is larger

# Decree 73/2024/NĐ-CP: 2,340,000 VND from 1 July 2024 (earlier: 1,800,000 from 1 July 2023,
# Decree 24/2023/NĐ-CP). Later rises are configured (`[household] base_salary`), not guessed.
DEFAULT_BASE_SALARY: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2023, 7, 1), 1_800_000),
    (dt.date(2024, 7, 1), 2_340_000),
)


class PremiumError(ValueError):
    """A quote that cannot be made (no base salary in force, a period the rule does not allow)."""


def round_half_up(value: Fraction) -> int:
    """Whole VND, halves rounded up (amounts are never negative)."""
    if value < 0:
        raise ValueError("amounts are never negative")
    return int((value * 2 + 1) // 2)


@dataclasses.dataclass(frozen=True, slots=True)
class BaseSalaryTable:
    """Base salary (VND per month) by the date it takes effect; each entry holds until the next."""

    entries: tuple[tuple[dt.date, int], ...] = DEFAULT_BASE_SALARY

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError("the base-salary table is empty")
        dates = [d for d, _ in self.entries]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("base-salary dates must be distinct and in increasing order")
        if any(amount <= 0 for _, amount in self.entries):
            raise ValueError("base salaries must be positive")

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[dt.date, int]]) -> BaseSalaryTable:
        return cls(tuple(sorted((d, int(a)) for d, a in pairs)))

    def at(self, day: dt.date) -> int:
        """The base salary in force on `day` (a change takes effect on its own date)."""
        found = None
        for since, amount in self.entries:
            if since <= day:
                found = amount
        if found is None:
            raise PremiumError(f"no base salary configured on or before {day.isoformat()}")
        return found


def member_share(position: int) -> Fraction:
    """Share of the first member's amount for the member at `position` (1-based)."""
    if position < 1:
        raise ValueError("positions start at 1")
    return MEMBER_SHARES[min(position, len(MEMBER_SHARES)) - 1]


def monthly_amount(base_salary: int, position: int) -> int:
    """Whole VND per month for the member at `position`, rounded half up from the exact value."""
    return round_half_up(base_salary * FIRST_MEMBER_RATE * member_share(position))


@dataclasses.dataclass(frozen=True, slots=True)
class MemberQuote:
    order: int  # 1-based position in the household's order
    share_percent: int  # of the first member's amount
    monthly_vnd: int
    amount_vnd: int  # monthly_vnd × months


@dataclasses.dataclass(frozen=True, slots=True)
class Quote:
    base_salary_vnd: int
    months: int
    members: tuple[MemberQuote, ...]

    @property
    def total_vnd(self) -> int:
        return sum(m.amount_vnd for m in self.members)


def quote(member_count: int, months: int, on: dt.date, table: BaseSalaryTable) -> Quote:
    """The premium for `member_count` members, in order, for `months`, paid on `on`."""
    if months not in PERIOD_MONTHS:
        raise PremiumError("months must be 3, 6 or 12")
    if not 1 <= member_count <= MAX_MEMBERS:
        raise PremiumError(f"a household renewal has 1-{MAX_MEMBERS} members")
    base = table.at(on)
    members = []
    for position in range(1, member_count + 1):
        monthly = monthly_amount(base, position)
        share = member_share(position)
        members.append(MemberQuote(position, int(share * 100), monthly, monthly * months))
    return Quote(base, months, tuple(members))

"""The household premium: 1-7 members × 3/6/12 months on dates either side of a base-salary
change, against amounts worked out by hand from the decree's scale."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from bhytgate.household.premium import (
    BaseSalaryTable,
    PremiumError,
    monthly_amount,
    quote,
    round_half_up,
)

# A hypothetical rise on 1 July 2026 to 2,530,000 VND (announced, no decree seen): configured, not real.
TABLE = BaseSalaryTable.from_pairs([(dt.date(2024, 7, 1), 2_340_000), (dt.date(2026, 7, 1), 2_530_000)])
BEFORE, ON_CHANGE, DAY_BEFORE = dt.date(2026, 1, 15), dt.date(2026, 7, 1), dt.date(2026, 6, 30)

# Per-month amounts by position, worked out by hand: 4.5% of the base, then 70/60/50/40% of it.
MONTHLY_2024 = [105_300, 73_710, 63_180, 52_650, 42_120, 42_120, 42_120]
MONTHLY_2026 = [113_850, 79_695, 68_310, 56_925, 45_540, 45_540, 45_540]


@pytest.mark.parametrize("members", range(1, 8))
@pytest.mark.parametrize("months", [3, 6, 12])
@pytest.mark.parametrize(
    ("day", "base", "monthly"),
    [
        (BEFORE, 2_340_000, MONTHLY_2024),
        (DAY_BEFORE, 2_340_000, MONTHLY_2024),
        (ON_CHANGE, 2_530_000, MONTHLY_2026),
    ],
)
def test_quote_by_hand(members: int, months: int, day: dt.date, base: int, monthly: list[int]) -> None:
    q = quote(members, months, day, TABLE)
    assert q.base_salary_vnd == base and q.months == months
    assert [m.order for m in q.members] == list(range(1, members + 1))
    assert [m.monthly_vnd for m in q.members] == monthly[:members]
    assert [m.amount_vnd for m in q.members] == [x * months for x in monthly[:members]]
    assert q.total_vnd == sum(monthly[:members]) * months
    assert [m.share_percent for m in q.members] == [100, 70, 60, 50, 40, 40, 40][:members]


def test_the_readme_example() -> None:
    assert quote(3, 12, BEFORE, BaseSalaryTable()).total_vnd == 2_906_280


def test_rounding_is_half_up_per_month_then_times_months() -> None:
    # A base of 2,341,000: 4.5% = 105,345; 70% of it = 73,741.5 → 73,742; 60% = 63,207; 50% =
    # 52,672.5 → 52,673; 40% = 42,138.
    table = BaseSalaryTable.from_pairs([(dt.date(2020, 1, 1), 2_341_000)])
    q = quote(5, 3, BEFORE, table)
    assert [m.monthly_vnd for m in q.members] == [105_345, 73_742, 63_207, 52_673, 42_138]
    assert [m.amount_vnd for m in q.members] == [316_035, 221_226, 189_621, 158_019, 126_414]
    assert round_half_up(Fraction(5, 2)) == 3 and round_half_up(Fraction(7, 3)) == 2
    assert monthly_amount(2_341_001, 1) == 105_345  # 105,345.045 → down


def test_periods_dates_and_sizes_outside_the_rule_are_refused() -> None:
    for months in (1, 2, 4, 9, 24, 0, -3):
        with pytest.raises(PremiumError):
            quote(1, months, BEFORE, TABLE)
    for count in (0, 21):
        with pytest.raises(PremiumError):
            quote(count, 12, BEFORE, TABLE)
    with pytest.raises(PremiumError):
        quote(1, 12, dt.date(2024, 6, 30), TABLE)  # before the first entry


def test_the_table_is_validated() -> None:
    with pytest.raises(ValueError):
        BaseSalaryTable(())
    with pytest.raises(ValueError):
        BaseSalaryTable(((dt.date(2025, 1, 1), 1), (dt.date(2024, 1, 1), 2)))
    with pytest.raises(ValueError):
        BaseSalaryTable(((dt.date(2025, 1, 1), 0),))

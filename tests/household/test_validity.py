"""The renewed validity (Luật BHYT Art. 16(3), unchanged by Luật 51/2024/QH15 on this point)."""

from __future__ import annotations

import datetime as dt

import pytest

from bhytgate.household.validity import StartRule, WaitingRule, add_months, period_end, renewal_period

D = dt.date


@pytest.mark.parametrize("months", [3, 6, 12])
def test_a_valid_card_is_extended_from_its_end_without_gap_or_overlap(months: int) -> None:
    end = D(2026, 3, 31)
    p = renewal_period(end, D(2026, 3, 10), months)
    assert p.rule is StartRule.CONTINUOUS
    assert p.valid_from == end + dt.timedelta(days=1)
    # chained renewals tile the calendar exactly
    q = renewal_period(p.valid_to, D(2026, 3, 11), months)
    assert q.valid_from == p.valid_to + dt.timedelta(days=1)
    assert (q.valid_to - p.valid_from).days + 1 == sum(
        (add_months(D(2026, 4, 1), k + 1)[0] - add_months(D(2026, 4, 1), k)[0]).days
        for k in range(2 * months)
    )


def test_paid_on_the_last_day_is_still_continuous() -> None:
    p = renewal_period(D(2026, 3, 31), D(2026, 3, 31), 12)
    assert (p.valid_from, p.valid_to, p.rule) == (D(2026, 4, 1), D(2027, 3, 31), StartRule.CONTINUOUS)


def test_a_short_lapse_starts_on_the_payment_day() -> None:
    p = renewal_period(D(2026, 3, 31), D(2026, 6, 30), 3)  # gap 1 April - 29 June: under 3 months
    assert (p.valid_from, p.valid_to, p.rule) == (D(2026, 6, 30), D(2026, 9, 29), StartRule.FROM_PAYMENT)


def test_a_lapse_of_three_months_or_more_waits_thirty_days() -> None:
    p = renewal_period(D(2026, 3, 31), D(2026, 7, 1), 6)  # gap 1 April - 30 June: 3 months
    assert p.rule is StartRule.WAITING_PERIOD
    assert (p.valid_from, p.valid_to) == (D(2026, 7, 31), D(2027, 1, 30))
    long = renewal_period(D(2024, 12, 31), D(2026, 2, 1), 12)
    assert (long.valid_from, long.valid_to, long.rule) == (
        D(2026, 3, 3),
        D(2027, 3, 2),
        StartRule.WAITING_PERIOD,
    )


def test_first_participation_waits_thirty_days() -> None:
    p = renewal_period(None, D(2026, 1, 10), 3)
    assert (p.valid_from, p.valid_to, p.rule) == (D(2026, 2, 9), D(2026, 5, 8), StartRule.WAITING_PERIOD)


def test_the_waiting_rule_is_configurable() -> None:
    p = renewal_period(D(2026, 3, 31), D(2026, 5, 15), 3, WaitingRule(lapse_months=1, waiting_days=10))
    assert (p.valid_from, p.rule) == (D(2026, 5, 25), StartRule.WAITING_PERIOD)


def test_period_ends_at_month_ends() -> None:
    assert period_end(D(2026, 1, 1), 3) == D(2026, 3, 31)
    assert period_end(D(2026, 1, 31), 3) == D(2026, 4, 30)  # 31 April does not exist
    assert period_end(D(2025, 11, 30), 3) == D(2026, 2, 28)
    assert period_end(D(2027, 11, 29), 3) == D(2028, 2, 28)  # 29 Feb 2028 exists: day before
    assert period_end(D(2026, 2, 15), 12) == D(2027, 2, 14)

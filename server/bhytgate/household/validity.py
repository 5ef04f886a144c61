"""When a renewed household card is valid: Luật BHYT 2008 Art. 16(3) (as amended by Luật
46/2014/QH13, Art. 1(10)), unchanged on this point by Luật 51/2024/QH15 (in force 1 July 2025).

The rule as implemented (sources in the README, "Household renewal"):

- still covered on the payment day (paid before or on the card's end date): the new period starts
  the day after the current end — continuous, no gap and no overlap;
- lapsed for less than `lapse_months` (3): the new period starts on the payment day (BHXH's
  collection procedure, QĐ 595/QĐ-BHXH as amended by QĐ 505/QĐ-BHXH: continuous participation is
  valid from the day of payment); the days between the old end and the payment stay uncovered;
- first participation, or lapsed for `lapse_months` or more: the card is valid `waiting_days` (30)
  days after the payment day.

"3 months or more" is counted in calendar months from the first uncovered day (the day after the
old end) to the payment day. The law qualifies the gap "within the fiscal year"; this gateway
counts any gap of 3 months, also one that spans a year end (the stricter reading; configurable).

A period of N months ends the day before the same day N months later; a start on the 29th-31st
whose day the end month lacks runs to that month's last day. Pure: no I/O, no clock.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import enum


class StartRule(enum.StrEnum):
    CONTINUOUS = "continuous"  # from the day after the current end
    FROM_PAYMENT = "from_payment"  # a short lapse: from the payment day
    WAITING_PERIOD = "waiting_period"  # first participation or a long lapse: payment + 30 days


@dataclasses.dataclass(frozen=True, slots=True)
class WaitingRule:
    lapse_months: int = 3
    waiting_days: int = 30


@dataclasses.dataclass(frozen=True, slots=True)
class RenewalPeriod:
    valid_from: dt.date
    valid_to: dt.date
    rule: StartRule


def add_months(day: dt.date, months: int) -> tuple[dt.date, bool]:
    """`day` moved by `months` calendar months, clamped to the month's end; True when clamped."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last)), day.day > last


def period_end(start: dt.date, months: int) -> dt.date:
    """The last covered day of a period of `months` starting on `start`."""
    same_day, clamped = add_months(start, months)
    return same_day if clamped else same_day - dt.timedelta(days=1)


def renewal_period(
    current_end: dt.date | None, paid_on: dt.date, months: int, rule: WaitingRule = WaitingRule()
) -> RenewalPeriod:
    """The validity of a renewal paid on `paid_on` of a card that ends on `current_end` (None: the
    member has never been covered)."""
    if months <= 0:
        raise ValueError("months must be positive")
    if current_end is not None and paid_on <= current_end:
        start = current_end + dt.timedelta(days=1)
        return RenewalPeriod(start, period_end(start, months), StartRule.CONTINUOUS)
    if current_end is not None:
        first_uncovered = current_end + dt.timedelta(days=1)
        long_gap_from, _ = add_months(first_uncovered, rule.lapse_months)
        if paid_on < long_gap_from:
            return RenewalPeriod(paid_on, period_end(paid_on, months), StartRule.FROM_PAYMENT)
    start = paid_on + dt.timedelta(days=rule.waiting_days)
    return RenewalPeriod(start, period_end(start, months), StartRule.WAITING_PERIOD)

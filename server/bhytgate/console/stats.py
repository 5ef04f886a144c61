"""Dashboard figures from audit bodies: pure functions over the decoded records, no I/O.

The audit log is the source because it is the one record every replica writes for every decision,
and it holds no personal data (documents are keyed pseudonyms), so a dashboard built from it cannot
leak any.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bhytgate.entitlement.authority import FUND_FACILITY, is_bhxh_office

# Reasons an officer watches as fraud events rather than as ordinary refusals.
LOCK_REASONS = frozenset({"FRAUD_BIOMETRIC_LOCKED"})
VELOCITY_REASONS = frozenset({"FRAUD_VELOCITY"})
SPIKE_REASONS = frozenset({"FRAUD_TERMINAL_FLAGGED"})
_EVENT_KINDS = (("lock", LOCK_REASONS), ("velocity", VELOCITY_REASONS), ("terminal_spike", SPIKE_REASONS))


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The part of one audit body a dashboard uses."""

    at: dt.datetime
    decision: str
    reasons: tuple[str, ...]
    facility: str
    terminal: str
    action: str


def decode(body: Mapping[str, Any]) -> Decision | None:
    """One audit body as a Decision; None for a body that is not a decision (or not readable)."""
    try:
        at = dt.datetime.fromisoformat(str(body["at"]).replace("Z", "+00:00"))
        reasons = tuple(str(r["code"]) for r in body.get("reasons") or ())
        return Decision(
            at=at.astimezone(dt.UTC),
            decision=str(body["decision"]),
            reasons=reasons,
            facility=str(body.get("facility") or ""),
            terminal=str(body.get("terminal") or ""),
            action=str(body.get("action") or "verify"),
        )
    except (KeyError, TypeError, ValueError):
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Whose decisions a dashboard counts: one facility, one province (a provincial office, code
    ending in 000, as the review queue scopes it), or every facility (both None: the fund's
    auditor, facility 00000)."""

    facility: str | None = None
    province: str | None = None

    @classmethod
    def of(cls, role: str, facility: str) -> Scope:
        if role == "auditor" and facility == FUND_FACILITY:  # the fund's national auditor
            return cls()
        if is_bhxh_office(facility):
            return cls(province=facility[:2])
        return cls(facility=facility)

    def covers(self, facility: str) -> bool:
        if self.facility is not None:
            return facility == self.facility
        if self.province is not None:
            return facility[:2] == self.province
        return True

    def describe(self) -> str:
        if self.facility is not None:
            return f"facility {self.facility}"
        if self.province is not None:
            return f"province {self.province}"
        return "every facility"


EVERY_FACILITY = Scope()


@dataclasses.dataclass(frozen=True, slots=True)
class TerminalRow:
    terminal: str
    facility: str
    decisions: int
    rejected: int
    flagged: int

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.decisions if self.decisions else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class FraudEvent:
    at: dt.datetime
    kind: str  # "lock" | "velocity" | "terminal_spike"
    facility: str
    terminal: str


@dataclasses.dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard page shows, for one time window."""

    since: dt.datetime
    until: dt.datetime
    bucket: dt.timedelta
    buckets: tuple[dt.datetime, ...]
    # reason (or "ACCEPTED") -> count per bucket, aligned with `buckets`
    by_reason: Mapping[str, tuple[int, ...]]
    decisions: Mapping[str, int]
    terminals: tuple[TerminalRow, ...]  # highest rejection rate first
    events: tuple[FraudEvent, ...]  # newest first

    @property
    def total(self) -> int:
        return sum(self.decisions.values())


def _floor(at: dt.datetime, since: dt.datetime, bucket: dt.timedelta) -> int:
    return int((at - since) / bucket)


def build(
    decisions: Iterable[Decision],
    *,
    until: dt.datetime,
    window: dt.timedelta = dt.timedelta(hours=24),
    bucket: dt.timedelta = dt.timedelta(hours=1),
    spike_min_decisions: int = 5,
    max_events: int = 50,
    scope: Scope = EVERY_FACILITY,
) -> Dashboard:
    """Aggregate verify decisions in [until - window, until) into per-bucket counts by reason (an
    acceptance counts as ACCEPTED; a refusal once under each of its reasons), per-terminal rejection
    rates (terminals with fewer than `spike_min_decisions` are left out: a rate of one is noise) and
    the newest lock, velocity and terminal-spike events. Only decisions of facilities `scope`
    covers count: another facility's terminals and volumes are its own business."""
    if bucket <= dt.timedelta(0) or window < bucket:
        raise ValueError("bucket must be positive and no longer than the window")
    since = until - window
    n = _floor(until - dt.timedelta(microseconds=1), since, bucket) + 1
    starts = tuple(since + i * bucket for i in range(n))
    per_reason: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    totals: Counter[str] = Counter()
    per_terminal: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    events: list[tuple[dt.datetime, int, FraudEvent]] = []  # a min-heap of the newest `max_events`
    found = 0
    for d in decisions:
        if d.action != "verify" or not since <= d.at < until or not scope.covers(d.facility):
            continue
        i = _floor(d.at, since, bucket)
        totals[d.decision] += 1
        if d.decision == "ACCEPTED":
            per_reason["ACCEPTED"][i] += 1
        for code in dict.fromkeys(d.reasons):
            per_reason[code][i] += 1
        row = per_terminal[(d.terminal, d.facility)]
        row[0] += 1
        row[1] += d.decision == "REJECTED"
        row[2] += d.decision == "REVIEW"
        for kind, codes in (
            ("lock", LOCK_REASONS),
            ("velocity", VELOCITY_REASONS),
            ("terminal_spike", SPIKE_REASONS),
        ):
            if codes.intersection(d.reasons):
                found += 1  # ties at one instant keep their arrival order, as a stable sort would
                item = (d.at, -found, FraudEvent(d.at, kind, d.facility, d.terminal))
                if len(events) < max_events:
                    heapq.heappush(events, item)
                elif max_events > 0:
                    heapq.heappushpop(events, item)
    terminals = sorted(
        (
            TerminalRow(t, f, total, rejected, flagged)
            for (t, f), (total, rejected, flagged) in per_terminal.items()
            if total >= spike_min_decisions
        ),
        key=lambda r: (-r.rejection_rate, -r.decisions, r.terminal),
    )
    newest = [e for _, _, e in sorted(events, key=lambda t: (t[0], t[1]), reverse=True)]
    ordered = sorted(per_reason, key=lambda k: (k != "ACCEPTED", -sum(per_reason[k]), k))
    return Dashboard(
        since=since,
        until=until,
        bucket=bucket,
        buckets=starts,
        by_reason={k: tuple(per_reason[k]) for k in ordered},
        decisions=dict(totals),
        terminals=tuple(terminals),
        events=tuple(newest),
    )

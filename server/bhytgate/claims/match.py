"""How one dossier is classified against the verified check-ins of its person (pure).

verified: a check-in at the dossier's facility within `window` of NGAY_VAO (the one carrying the
same MA_LK first, then the nearest); mismatch: a check-in of this person within `horizon` of the
visit, but at another facility or outside the window; unverified: none (a ghost-visit candidate);
duplicate: the only check-ins that would verify it are taken: they already verify an earlier
dossier of the same file (the first dossier in file order keeps a check-in), or another dossier of
a file reconciled before (the first file keeps it). One check-in, one claim; and one visit, one
check-in: a dossier whose visit (MA_CSKCB, MA_LK) already holds one of them is `duplicate` even if
the person checked in again that day (that check-in is for a second visit, another MA_LK).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
from collections.abc import Callable, Sequence

from bhytgate.claims.xml1 import Xml1
from bhytgate.storage.checkins import StoredCheckin


class Status(enum.StrEnum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    MISMATCH = "mismatch"
    UNPARSEABLE = "unparseable"
    DUPLICATE = "duplicate"


@dataclasses.dataclass(frozen=True, slots=True)
class Keys:
    """The pseudonyms a dossier's person is matched under."""

    cccd: str | None
    cards: tuple[str, ...]
    visit: str


# Added to a duplicate's reason when the dossier carries the MA_LK its check-in was made under.
CARRIES_MA_LK = "; this dossier carries the check-in's MA_LK"


@dataclasses.dataclass(frozen=True, slots=True)
class Holder:
    """What holds a check-in, as one dossier sees it."""

    reference: str  # named in the reason: "dossier 3 (MA_LK X) of this file", another file's dossier
    same_visit: bool = False  # a dossier of this dossier's visit (MA_CSKCB, MA_LK): the visit claimed again
    own: bool = False  # this very dossier, sent before: it keeps that check-in (reference: where)


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    ma_lk: str
    status: Status
    amount: decimal.Decimal
    facility: str = ""
    verification_id: str = ""
    attestation_id: str = ""
    assurance_level: str = ""
    reason: str = ""


def _gap(a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    return abs(a - b)


def _hours(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def classify(
    index: int,
    visit: Xml1,
    keys: Keys,
    checkins: Sequence[StoredCheckin],
    *,
    window: dt.timedelta,
    horizon: dt.timedelta,
    taken: Callable[[str], Holder | None] = lambda _: None,
) -> Outcome:
    """`checkins` may hold other people's (a batch's): only this person's, near this visit, count.
    `taken`: verification id -> what already holds that check-in (`own`: this dossier, sent
    before; verified again, the reason names where), or None when it is free. A check-in the
    dossier holds decides (a re-send keeps its claim, and claims no other), then one its visit
    holds through another dossier (a duplicate, wherever within the horizon: a changed NGAY_VAO
    is still the same visit), then a free one."""
    end = visit.end or visit.arrival
    mine = [
        c
        for c in checkins
        if ((keys.cccd is not None and c.cccd_key == keys.cccd) or (c.card_key in keys.cards))
        and visit.arrival - horizon <= c.verified_at <= end + horizon
    ]
    base = Outcome(index, visit.ma_lk, Status.UNVERIFIED, visit.amount, visit.facility)
    if not mine:
        return base
    here = [c for c in mine if c.facility == visit.facility and _gap(c.verified_at, visit.arrival) <= window]
    holders = {c.verification_id: taken(c.verification_id) for c in mine}
    held = [(c, h) for c in mine if (h := holders[c.verification_id]) is not None]
    kept = [c for c, h in held if h.own]
    # the visit already holds a check-in (in this window or not: a changed NGAY_VAO is the same visit)
    again = [c for c, h in held if h.same_visit and not h.own]
    if kept:  # a re-send keeps its claim; outside this call's window it is a mismatch, not a new claim
        here = [c for c in here if c in kept]
        mine = kept
    elif again:
        here = again
    if here:
        fresh = [c for c in here if (h := holders[c.verification_id]) is None or h.own]
        best = min(
            fresh or here,
            key=lambda c: (c.visit_key != keys.visit, _gap(c.verified_at, visit.arrival)),
        )
        holder = holders[best.verification_id]
        if holder is None:
            status, reason = Status.VERIFIED, ""
        elif holder.own:  # said, so that a visit billed again in a later file is seen as such
            status = Status.VERIFIED
            reason = f"re-sent: this dossier already holds its check-in as {holder.reference}"
        else:
            status = Status.DUPLICATE
            reason = f"its check-in already verifies {holder.reference}"
            if best.visit_key is not None and best.visit_key == keys.visit:
                reason += CARRIES_MA_LK
        return dataclasses.replace(
            base,
            status=status,
            verification_id=best.verification_id,
            attestation_id=best.attestation_id,
            assurance_level=best.assurance_level,
            reason=reason,
        )
    nearest = min(mine, key=lambda c: _gap(c.verified_at, visit.arrival))
    gap = _gap(nearest.verified_at, visit.arrival)
    if nearest.facility != visit.facility:
        reason = f"verified at facility {nearest.facility}, not {visit.facility}, {_hours(gap)} from NGAY_VAO"
    else:
        reason = (
            f"verified at this facility {_hours(gap)} from NGAY_VAO"
            f" (window {int(window.total_seconds() // 60)} min)"
        )
    return dataclasses.replace(
        base,
        status=Status.MISMATCH,
        verification_id=nearest.verification_id,
        attestation_id=nearest.attestation_id,
        assurance_level=nearest.assurance_level,
        reason=reason,
    )


@dataclasses.dataclass
class Summary:
    """Counts and T_BHTT per class; constant size whatever the file's."""

    facility: str = ""
    declared: int = 0
    window_minutes: int = 0
    counts: dict[Status, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(Status, 0))
    amounts: dict[Status, decimal.Decimal] = dataclasses.field(
        default_factory=lambda: {s: decimal.Decimal(0) for s in Status}
    )

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self.amounts[outcome.status] += outcome.amount

    def merge(self, other: Summary) -> None:
        for status in Status:
            self.counts[status] += other.counts[status]
            self.amounts[status] += other.amounts[status]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "dossiers": self.total,
            "declared": self.declared,
            "facility": self.facility,
            "window_minutes": self.window_minutes,
            "classes": {s.value: {"count": self.counts[s], "amount": str(self.amounts[s])} for s in Status},
            "amount_total": str(sum(self.amounts.values(), decimal.Decimal(0))),
        }

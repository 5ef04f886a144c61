"""Children without a photo: a check-in vouched for by a guardian verified in full. Pure.

An under-6 Căn cước card carries no face image (or a newborn has only a BHYT number), so no face
can bind the child to the card. Instead the accompanying adult is verified in full at the same
terminal in the same visit (an ACCEPTED check of their own, by face), the child's chip still passes
Passive (and Active, where it has DG15) Authentication, and the child's entitlement is released at
its own level, GUARDIAN_VERIFIED, naming the guardian's verification. The path is closed to a card
that does carry a face image (its holder is checked by face) and to a holder past the age limit,
so it cannot be used to skip the face check of anyone else. Fraud rules apply to the child's
document as to any (lost/stolen, velocity, the terminal's rejection rate).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from bhytgate.policy.model import (
    AssuranceLevel,
    CheckResults,
    Decision,
    FraudSignals,
    Outcome,
    PolicyConfig,
    Reason,
    ReasonCode,
)
from bhytgate.policy.rules import _entitlement_reasons, _fraud_reasons


@dataclasses.dataclass(frozen=True, slots=True)
class GuardianFacts:
    """The guardian's verification, as its session recorded it (None fields: not known)."""

    outcome: str
    identity_ok: bool  # proved by face to be the holder of their own card
    terminal_id: str
    at: dt.datetime
    document: str  # the guardian's document number (compared, never released)


@dataclasses.dataclass(frozen=True, slots=True)
class GuardianRule:
    window: dt.timedelta = dt.timedelta(minutes=15)
    max_age_years: int = 6
    # Children one guardian verification may vouch for: one accepted adult check-in vouched for
    # any number of under-6 children shown only as BHYT QR text (attack run, 2026-12-03).
    max_children: int = 4


def too_many_children(vouched: int, rule: GuardianRule) -> list[Reason]:
    """`vouched`: the children this guardian verification has vouched for, this one included."""
    if vouched <= rule.max_children:
        return []
    return [
        Reason(
            ReasonCode.GUARDIAN_NOT_APPLICABLE.value,
            f"this guardian's verification has vouched for {rule.max_children} children already;"
            " more need staff (or the guardian verified again)",
        )
    ]


def age_years(dob: dt.date, today: dt.date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def guardian_reasons(
    guardian: GuardianFacts | None,
    *,
    terminal_id: str,
    child_document: str,
    child_has_face_image: bool,
    child_dob: dt.date | None,
    now: dt.datetime,
    rule: GuardianRule,
) -> list[Reason]:
    """Why this guardian cannot vouch for this child here and now; empty when they can."""
    out: list[Reason] = []

    def bad(code: ReasonCode, detail: str) -> None:
        out.append(Reason(code.value, detail))

    if guardian is None:
        bad(ReasonCode.GUARDIAN_NOT_VERIFIED, "guardian verification unknown or expired")
    else:
        if guardian.outcome != Outcome.ACCEPTED.value or not guardian.identity_ok:
            bad(ReasonCode.GUARDIAN_NOT_VERIFIED, "the guardian's own check was not accepted by face")
        if guardian.terminal_id != terminal_id:
            bad(ReasonCode.GUARDIAN_NOT_VERIFIED, "the guardian was verified at another terminal")
        if not dt.timedelta(0) <= now - guardian.at <= rule.window:
            minutes = rule.window.total_seconds() / 60
            bad(ReasonCode.GUARDIAN_NOT_VERIFIED, f"the guardian's check is older than {minutes:g} min")
        if guardian.document == child_document:
            bad(ReasonCode.GUARDIAN_NOT_VERIFIED, "a holder cannot vouch for their own card")
    if child_has_face_image:
        bad(ReasonCode.GUARDIAN_NOT_APPLICABLE, "the card has a face image: the holder is checked by face")
    if child_dob is None:
        bad(ReasonCode.GUARDIAN_NOT_APPLICABLE, "the holder's birth date is unknown")
    elif age_years(child_dob, now.date()) >= rule.max_age_years:
        bad(ReasonCode.GUARDIAN_NOT_APPLICABLE, f"the holder is {rule.max_age_years} years or older")
    return out


def decide_guardian(
    checks: CheckResults, guardian: list[Reason], fraud: FraudSignals, policy: PolicyConfig
) -> Decision:
    """The child's decision: the guardian's reasons, the chip, the entitlement and the fraud rules.

    `checks` carries the chip (passive_ok, aa_ok), the challenge and the entitlement; no face."""
    reject = list(guardian)
    if checks.challenge_ok is not True:
        reject.append(Reason(ReasonCode.CHECK_MISSING.value, "challenge not reported"))
    if checks.chip_passive_ok is False or checks.aa_ok is False:
        reject.append(Reason(ReasonCode.CHIP_NOT_GENUINE.value, "the child's chip did not authenticate"))
    reject += _entitlement_reasons(checks, policy)
    fraud_reject, review = _fraud_reasons(fraud, policy)
    reject += fraud_reject
    if reject:
        return Decision(Outcome.REJECTED, reject + review, None)
    if review:
        return Decision(Outcome.REVIEW, review, AssuranceLevel.GUARDIAN_VERIFIED)
    return Decision(Outcome.ACCEPTED, [], AssuranceLevel.GUARDIAN_VERIFIED)

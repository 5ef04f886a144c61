"""Fraud rules and the decision combiner: pure functions, no I/O, no clock (time comes in `FraudSignals`).

Fail closed: every input that is `None` (not known) or inconsistent produces a rejecting reason, so a
pipeline bug can only ever cost an ACCEPTED, never create one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

from bhytgate.policy.model import (
    CHIP_FAILURE_CODES,
    FACE_FAILURE_CODES,
    AssuranceLevel,
    CheckResults,
    Decision,
    DocumentSource,
    FaceMatch,
    FraudSignals,
    Outcome,
    PolicyConfig,
    Reason,
    ReasonCode,
    TerminalKind,
)
from bhytgate.policy.retry import is_retry
from bhytgate.storage.interface import ChallengeProblem

_CHALLENGE_CODES = {
    ChallengeProblem.UNKNOWN: ReasonCode.CHALLENGE_UNKNOWN,
    ChallengeProblem.EXPIRED: ReasonCode.CHALLENGE_EXPIRED,
    ChallengeProblem.REPLAYED: ReasonCode.CHALLENGE_REPLAYED,
    ChallengeProblem.TERMINAL_MISMATCH: ReasonCode.CHALLENGE_TERMINAL_MISMATCH,
}
_REVIEW_CODES = frozenset({ReasonCode.FRAUD_VELOCITY, ReasonCode.FRAUD_TERMINAL_FLAGGED})


def velocity_exceeded(
    facilities_in_window: Collection[str], current_facility: str, policy: PolicyConfig
) -> bool:
    """More distinct facilities than allowed within the window, counting the one asking now."""
    return len(set(facilities_in_window) | {current_facility}) > policy.velocity_max_facilities


def mismatch_lock_until(
    mismatches_in_window: int, now: dt.datetime, policy: PolicyConfig
) -> dt.datetime | None:
    """Lock biometric check-in once a document collects N face mismatches in the window.

    `mismatches_in_window` includes the attempt just recorded; the caller persists the returned lock.
    """
    if mismatches_in_window >= policy.mismatch_lock_threshold:
        return now + policy.mismatch_lock_duration
    return None


def terminal_flagged(recent: Mapping[str, int], policy: PolicyConfig) -> bool:
    """A terminal whose recent decisions are mostly rejections is probed or broken: send it to review.

    Needs both a rate above the threshold and an absolute count, so two early failures do not flag it.
    """
    # RETRY outcomes say nothing about the terminal's honesty: neither side of the rate.
    total = sum(n for d, n in recent.items() if d != Outcome.RETRY.value)
    rejected = recent.get(Outcome.REJECTED.value, 0)
    if total <= 0 or rejected < policy.terminal_min_rejections:
        return False
    return rejected / total > policy.terminal_reject_rate_threshold


def _face_ok(m: FaceMatch) -> bool:
    """Both the flag and the numbers must say "match"; a disagreement is a bug and fails."""
    return m.matched and m.distance <= m.threshold


def achieved_assurance(checks: CheckResults) -> AssuranceLevel | None:
    """The level the evidence supports, ignoring policy; None when it binds no one to the card."""
    if checks.document_source is DocumentSource.CHIP:
        if checks.chip_passive_ok is not True or checks.chip_failure_codes:
            return None
        if checks.face_match is None or not _face_ok(checks.face_match):
            return None
        if checks.aa_ok is True and checks.challenge_ok is True and checks.liveness_ok is True:
            return AssuranceLevel.CHIP_AA_FACE_LIVENESS
        return AssuranceLevel.CHIP_FACE
    qr = checks.document_source is DocumentSource.QR
    if qr and checks.template_match is not None and _face_ok(checks.template_match):
        return AssuranceLevel.QR_ENROLLED_FACE
    return None


def _missing(what: str) -> Reason:
    return Reason(ReasonCode.CHECK_MISSING.value, f"{what} not reported")


def _r(code: ReasonCode, detail: str) -> Reason:
    return Reason(code.value, detail)


def _chip_reasons(c: CheckResults) -> list[Reason]:
    out: list[Reason] = []
    if c.chip_passive_ok is None:
        out.append(_missing("chip passive authentication"))
    elif c.chip_passive_ok is False or c.chip_failure_codes:
        known = [code for code in c.chip_failure_codes if code in CHIP_FAILURE_CODES]
        for code in dict.fromkeys(known):
            out.append(Reason(code, "passive authentication failed"))
        if not known:
            out.append(_r(ReasonCode.CHIP_SIGNATURE_INVALID, "passive authentication failed"))
    if c.aa_ok is False:
        out.append(_r(ReasonCode.CHIP_NOT_GENUINE, "active authentication signature did not verify"))
    return out


def _face_reasons(c: CheckResults) -> list[Reason]:
    if c.face_failure_code is not None:
        code = (
            c.face_failure_code if c.face_failure_code in FACE_FAILURE_CODES else ReasonCode.POOR_FACE_QUALITY
        )
        return [Reason(str(code), "live capture rejected before matching")]
    out: list[Reason] = []
    if c.document_source is DocumentSource.CHIP:
        if c.face_match is None:
            # A failed liveness challenge stops the face work before the match: that failure is
            # the reason (LIVENESS_FAILED rejects on its own), not a check the service forgot.
            if c.liveness_ok is not False:
                out.append(_missing("face match against the chip photo"))
        elif not _face_ok(c.face_match):
            out.append(
                _r(
                    ReasonCode.FACE_MISMATCH,
                    f"distance {c.face_match.distance:.3f} vs threshold {c.face_match.threshold:.3f}",
                )
            )
    if c.template_match is not None and not _face_ok(c.template_match):
        out.append(
            _r(
                ReasonCode.TEMPLATE_MISMATCH,
                f"distance {c.template_match.distance:.3f} vs threshold {c.template_match.threshold:.3f}",
            )
        )
    return out


def _liveness_reasons(c: CheckResults, kind: TerminalKind, policy: PolicyConfig) -> list[Reason]:
    if c.liveness_ok is False:
        return [_r(ReasonCode.LIVENESS_FAILED, c.liveness_failure or "liveness check failed")]
    if c.liveness_ok is True:
        return []
    # Not performed: only a staffed desk may accept one fresh frame, and only under a named operator.
    if policy.liveness_required.get(kind, True):
        return [_r(ReasonCode.LIVENESS_FAILED, f"liveness required at a {kind.value} terminal")]
    if not (c.operator and c.operator.strip()):
        return [_r(ReasonCode.OPERATOR_REQUIRED, "single-frame capture needs a named operator")]
    return []


def _entitlement_reasons(c: CheckResults, policy: PolicyConfig) -> list[Reason]:
    code = c.ma_ket_qua
    if c.entitlement_usable is None:
        return [_missing("entitlement")]
    if c.entitlement_usable and code in policy.usable_result_codes:
        return []
    if code == "110":
        return [_r(ReasonCode.CARD_REVOKED, "maKetQua 110")]
    if code == "010":
        return [_r(ReasonCode.CARD_EXPIRED, "maKetQua 010")]
    return [_r(ReasonCode.NO_ENTITLEMENT, f"maKetQua {code or 'none'}")]


def _fraud_reasons(f: FraudSignals, policy: PolicyConfig) -> tuple[list[Reason], list[Reason]]:
    reject: list[Reason] = []
    review: list[Reason] = []
    if f.reported_lost is None:
        reject.append(_missing("lost/stolen status"))
    elif f.reported_lost:
        reject.append(_r(ReasonCode.DOCUMENT_REPORTED_LOST, "document reported lost or stolen"))
    if f.biometric_locked_until is not None and f.biometric_locked_until > f.now:
        reject.append(
            _r(
                ReasonCode.FRAUD_BIOMETRIC_LOCKED,
                f"biometric check-in locked until {f.biometric_locked_until.isoformat()}",
            )
        )
    if f.facilities_in_window is None or not f.current_facility:
        reject.append(_missing("velocity history"))
    elif velocity_exceeded(f.facilities_in_window, f.current_facility, policy):
        n = len(set(f.facilities_in_window) | {f.current_facility})
        hours = policy.velocity_window.total_seconds() / 3600
        review.append(_r(ReasonCode.FRAUD_VELOCITY, f"{n} facilities within {hours:g} h"))
    if f.terminal_recent is None:
        reject.append(_missing("terminal history"))
    elif terminal_flagged(f.terminal_recent, policy):
        total = sum(f.terminal_recent.values())
        rejected = f.terminal_recent.get(Outcome.REJECTED.value, 0)
        review.append(
            _r(ReasonCode.FRAUD_TERMINAL_FLAGGED, f"{rejected} of the last {total} decisions rejected")
        )
    return reject, review


def decide(
    checks: CheckResults, fraud: FraudSignals, terminal_kind: TerminalKind, policy: PolicyConfig
) -> Decision:
    """Combine every check into one outcome: any failure rejects, fraud suspicions send to review."""
    try:
        kind = TerminalKind(terminal_kind)
    except ValueError:
        return Decision(Outcome.REJECTED, [_missing("known terminal kind")], None)

    reject: list[Reason] = []
    if checks.document_source is None:
        reject.append(_missing("document source"))
    if checks.challenge_problem is not None:
        try:
            code = _CHALLENGE_CODES[ChallengeProblem(checks.challenge_problem)]
        except ValueError:
            code = ReasonCode.CHALLENGE_UNKNOWN  # an unrecognised problem is still a problem
        reject.append(_r(code, "challenge not accepted"))
    elif checks.challenge_ok is not True:
        reject.append(_missing("challenge"))
    if checks.document_source is DocumentSource.CHIP:
        reject += _chip_reasons(checks)
    if checks.document_expired is None:
        reject.append(_missing("document expiry"))
    elif checks.document_expired:
        reject.append(_r(ReasonCode.DOCUMENT_EXPIRED, "identity document past its expiry date"))
    reject += _face_reasons(checks)
    reject += _liveness_reasons(checks, kind, policy)
    reject += _entitlement_reasons(checks, policy)
    fraud_reject, review = _fraud_reasons(fraud, policy)
    reject += fraud_reject

    level = achieved_assurance(checks)
    minimum = policy.min_assurance.get(kind, AssuranceLevel.CHIP_AA_FACE_LIVENESS)
    if not reject and (level is None or level.rank < minimum.rank):
        reject.append(
            _r(
                ReasonCode.ASSURANCE_TOO_LOW,
                f"{level.value if level else 'none'} below {minimum.value} required at {kind.value}",
            )
        )
        if checks.document_source is DocumentSource.CHIP and checks.aa_ok is None:
            reject.append(_r(ReasonCode.AA_MISSING, "chip did not perform active authentication"))

    if reject:
        if is_retry(reject) and not checks.face_failure_on_chip:
            # A glitch or a poor capture, nothing else: ask again (review rules run on the retry).
            return Decision(Outcome.RETRY, reject, level)
        return Decision(Outcome.REJECTED, reject + review, level)
    if review:
        return Decision(Outcome.REVIEW, review, level)
    return Decision(Outcome.ACCEPTED, [], level)


def is_review_code(code: str) -> bool:
    return code in _REVIEW_CODES

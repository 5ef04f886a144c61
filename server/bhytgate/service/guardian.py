"""The check of a child vouched for by a guardian (policy.guardian): the step that replaces the face.

Runs under the child's document lock, after the child's chip passed Passive (and Active)
Authentication: the guardian's session (any replica), the child's lost/stolen and lock status, the
entitlement, then `decide_guardian` and the recorder, whose attestation names the guardian.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bhytgate.entitlement.validity import holder_card
from bhytgate.policy.guardian import (
    GuardianFacts,
    GuardianRule,
    decide_guardian,
    guardian_reasons,
    too_many_children,
)
from bhytgate.policy.model import CheckResults, Outcome, Reason
from bhytgate.service import reasons as vocab
from bhytgate.service.credentials import Evidence
from bhytgate.service.model import Caller, VerifyInput, VerifyResult, db
from bhytgate.service.review import review_extras

if TYPE_CHECKING:
    from bhytgate.service.verification import Attempt, VerificationFlow


def _dmy(text: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime((text or "").strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


async def decide_for_child(
    flow: VerificationFlow, caller: Caller, inp: VerifyInput, attempt: Attempt, ev: Evidence
) -> VerifyResult:
    assert attempt.doc_key is not None and inp.guardian is not None
    now, checks = attempt.now, attempt.checks
    with attempt.timings.stage("guardian"):
        session = await db(flow.recorder.sessions.get, inp.guardian, now)
    facts = (
        None
        if session is None
        else GuardianFacts(
            # a terminal is its id within its facility (ids repeat across facilities)
            session.outcome.value,
            session.identity_ok,
            f"{session.facility}/{session.terminal_id}",
            session.at,
            session.cccd_number,
        )
    )
    rule = GuardianRule(
        flow.config.guardian_window, flow.config.guardian_max_age_years, flow.config.guardian_max_children
    )
    guardian = guardian_reasons(
        facts,
        terminal_id=f"{caller.facility}/{caller.terminal_id}",
        child_document=ev.cccd,
        child_has_face_image=ev.chip_image is not None,
        child_dob=_dmy(ev.dob),
        now=now,
        rule=rule,
    )
    if not guardian and session is not None:
        # Counted in the database (every replica), in a window that outlives the guardian's own.
        until = int((session.at + rule.window).timestamp() // 60) + 1
        vouched = await db(flow.store.hit_rate_window, f"guardian:{inp.guardian}", until)
        guardian = too_many_children(vouched, rule)
    with attempt.timings.stage("fraud_signals"):
        fraud = await db(flow._fraud_signals, attempt.doc_key, ev.issue_date, caller, now, attempt.qr)
    with attempt.timings.stage("entitlement"):
        if ev.card_number is not None:
            by_card = await db(flow.store.entitlement_by_card, ev.card_number)
            entitlements = [by_card] if by_card is not None else []
        else:
            entitlements = await db(flow.store.entitlements_by_cccd, ev.cccd)
    entitlement, ent_check = holder_card(entitlements, ev.cccd, now.date(), ev.name, ev.dob)
    results = CheckResults(
        document_source=ev.source,
        chip_passive_ok=ev.report.passive.valid if ev.report is not None else None,
        aa_ok=ev.aa_ok,
        challenge_ok=True,
        document_expired=ev.document_expired,
        entitlement_usable=(ent_check.usable or ent_check.needs_review) if ent_check is not None else False,
        ma_ket_qua=ent_check.ma_ket_qua.value if ent_check is not None else None,
    )
    decision = decide_guardian(results, guardian, fraud, flow.config.policy)
    unknown = Reason("NO_ENTITLEMENT", "no BHYT card for this holder")
    reasons = [unknown if r.code == "NO_ENTITLEMENT" and ent_check is None else r for r in decision.reasons]
    outcome = decision.outcome
    if outcome is Outcome.ACCEPTED and ent_check is not None and ent_check.needs_review:
        outcome = Outcome.REVIEW
        reasons = [Reason("CARD_MANAGED_ELSEWHERE", f"maKetQua {ent_check.ma_ket_qua.value}: check papers")]
    vocab.fill_checks(checks, results, reasons, fraud)
    checks["DOCUMENT_STATUS"] = "FAILED" if fraud.reported_lost else "PASSED"
    accepted = outcome is Outcome.ACCEPTED
    result = attempt.result(
        outcome,
        reasons,
        level=decision.assurance_level,
        entitlement=entitlement if accepted else None,
        ent_check=ent_check if accepted else None,
    )
    extra = attempt.extras(
        guardian=inp.guardian,
        **review_extras(
            outcome,
            entitlement.card_number if entitlement is not None else None,
            fraud,
            attempt.doc_key,
            caller.terminal_id,
            ent_check.ma_ket_qua.value if ent_check is not None else None,
            flow.config.policy,
        ),
        identity_ok=False,  # no face bound this holder: it can neither vouch nor enrol a template
        holder=(ev.name, ev.dob),
    )
    return await flow.recorder.finish(caller, inp, result, extra)

"""The review queue: every REVIEW decision opens a case that a reviewer terminal resolves.

A REVIEW (velocity across facilities, a terminal whose checks mostly fail, a card of the army or
police funds) used to be a dead end. Now the recorder opens a case with what a reviewer needs and
nothing personal in the clear (reasons, assurance level, face distance, the fraud facts as
pseudonyms and counts); what an acceptance releases (document and card numbers, name, birth date)
is sealed at rest. A reviewer of the facility (or of the province: a facility code ending in 000)
accepts or rejects it with a written reason; the resolution is appended to the same audit chain as
the decision, atomically with the state change, and an acceptance releases the entitlement
(re-checked at that moment) with an attestation naming the reviewer. The waiting terminal polls the
case by verification id. Unresolved cases expire (`review_ttl`) and the expiry is audited too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.attestation import AttestationClaims, sign_attestation
from bhytgate.audit.chain import AuditEvent, builder
from bhytgate.checkin.record import CheckinDetails
from bhytgate.entitlement.authority import is_bhxh_office
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validity import EntitlementCheck, check_entitlement
from bhytgate.policy.model import FraudSignals, Outcome, PolicyConfig, Reason
from bhytgate.service.config import GatewayConfig
from bhytgate.service.model import Caller, FailedPrecondition, NotFound, Unavailable, VerifyResult, db
from bhytgate.storage.review import ACCEPTED, EXPIRED, OPEN, REJECTED, CaseNotOpen, ReviewCaseRecord
from bhytgate.storage.sql import SqlStore

log = logging.getLogger("bhytgate.review")
MAX_PAGE = 500


@dataclasses.dataclass(frozen=True, slots=True)
class FraudFact:
    name: str
    subject: str  # a document pseudonym or a terminal id
    count: int
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Resolution:
    case: ReviewCaseRecord
    state: str  # the case's state now (an open case past its expiry reads EXPIRED)
    entitlement: Entitlement | None = None
    entitlement_check: EntitlementCheck | None = None
    attestation: str | None = None


def fraud_facts(
    fraud: FraudSignals, doc_key: str, terminal_id: str, ma_ket_qua: str | None, policy: PolicyConfig
) -> tuple[FraudFact, ...]:
    """What sent a check to review, without a name or a number: pure."""
    facts: list[FraudFact] = []
    if fraud.facilities_in_window is not None:
        facilities = sorted(set(fraud.facilities_in_window) | {fraud.current_facility})
        hours = policy.velocity_window.total_seconds() / 3600
        facts.append(
            FraudFact(
                "facilities_in_window", doc_key, len(facilities), f"{','.join(facilities)} in {hours:g} h"
            )
        )
    if fraud.terminal_recent is not None:
        total = sum(n for d, n in fraud.terminal_recent.items() if d != Outcome.RETRY.value)
        rejected = fraud.terminal_recent.get(Outcome.REJECTED.value, 0)
        facts.append(
            FraudFact("terminal_rejections", terminal_id, rejected, f"of the last {total} decisions")
        )
    if ma_ket_qua in ("001", "002"):
        facts.append(FraudFact("ma_ket_qua", doc_key, 1, f"maKetQua {ma_ket_qua}"))
    return tuple(facts)


def review_extras(
    outcome: Outcome,
    card_number: str | None,
    fraud: FraudSignals,
    doc_key: str,
    terminal_id: str,
    ma_ket_qua: str | None,
    policy: PolicyConfig,
) -> dict[str, Any]:
    """The RecordExtras fields a REVIEW needs to open its case (none for any other outcome)."""
    if outcome is not Outcome.REVIEW:
        return {}
    return {
        "review_card": card_number,
        "review_facts": fraud_facts(fraud, doc_key, terminal_id, ma_ket_qua, policy),
    }


def scope_of(caller: Caller) -> tuple[str | None, str | None]:
    """(facility, province) a reviewer sees: a provincial office (code ending in 000) sees the province."""
    if is_bhxh_office(caller.facility):
        return None, caller.facility[:2]
    return caller.facility, None


def _in_scope(caller: Caller, case: ReviewCaseRecord) -> bool:
    facility, province = scope_of(caller)
    return case.facility == facility if facility is not None else case.province == province


def _reason_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ReviewService:
    def __init__(
        self,
        config: GatewayConfig,
        store: SqlStore,
        *,
        audit_key: bytes,
        attestation_key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], dt.datetime],
    ) -> None:
        # The QĐ 4750 check-in of an accepted case (checkin.service.Checkins.store_checkin),
        # wired by the gateway: an officer's acceptance is a verified arrival like any other.
        self.on_accepted: Callable[..., object] | None = None
        self.config = config
        self.store = store
        self.audit_key = audit_key
        self.attestation_key = attestation_key
        self.clock = clock

    # --- opening (from the recorder, in its worker thread) -----------------------------------

    def open_case(
        self,
        caller: Caller,
        result: VerifyResult,
        *,
        cccd: str,
        card_number: str | None,
        holder: tuple[str | None, str | None],
        operator: str | None,
        facts: tuple[FraudFact, ...],
    ) -> dt.datetime:
        """Store the case of a REVIEW decision; returns when it expires."""
        now = result.verify_time
        case = ReviewCaseRecord(
            verification_id=result.verification_id,
            facility=caller.facility,
            terminal_id=caller.terminal_id,
            terminal_kind=caller.kind.value,
            state=OPEN,
            opened_at=now,
            expires_at=now + self.config.review_ttl,
            summary={
                "reasons": [{"code": r.code, "detail": r.detail} for r in result.reasons],
                "assurance_level": result.assurance_level.value if result.assurance_level else None,
                "face_distance": result.face_distance,
                "face_threshold": result.face_threshold,
                "checks_passed": [c for c, s in result.checks.items() if s == "PASSED"],
                "fraud": [dataclasses.asdict(f) for f in facts],
            },
        )
        payload = {
            "cccd": cccd,
            "card_number": card_number,
            "name": holder[0],
            "dob": holder[1],
            "operator": operator,
        }
        self.store.open_review_case(case, json.dumps(payload).encode("utf-8"))
        return case.expires_at

    # --- the reviewer's calls ------------------------------------------------------------------

    async def list_open(self, caller: Caller, limit: int) -> list[ReviewCaseRecord]:
        facility, province = scope_of(caller)
        return await db(
            lambda: self.store.open_review_cases(
                facility=facility, province=province, now=self.clock(), limit=min(limit, MAX_PAGE)
            )
        )

    def _load(self, verification_id: str) -> tuple[ReviewCaseRecord, dict[str, str | None]]:
        found = self.store.review_case(verification_id)
        if found is None:
            raise NotFound("no review case for this verification id")
        case, payload = found
        return case, json.loads(payload)

    async def resolve(self, caller: Caller, verification_id: str, *, accept: bool, reason: str) -> Resolution:
        return await db(self._resolve, caller, verification_id, accept, reason)

    def _resolve(self, caller: Caller, verification_id: str, accept: bool, reason: str) -> Resolution:
        now = self.clock()
        case, payload = self._load(verification_id)
        if not _in_scope(caller, case):
            raise NotFound("no review case for this verification id")  # nothing said beyond scope
        state = case.state_at(now)
        if state != OPEN:
            raise FailedPrecondition(f"the case is {state.lower()}, not open")
        entitlement = check = attestation = None
        level = case.summary.get("assurance_level")
        digest = f"reviewer's reason sha256:{_reason_digest(reason)[:32]}"
        if accept:
            entitlement, check = self._entitlement(payload, now)
            if entitlement is None or check is None or not (check.usable or check.needs_review):
                code = check.ma_ket_qua.value if check is not None else "none"
                raise FailedPrecondition(
                    f"the entitlement is not usable now (maKetQua {code}): reject the case"
                )
            claims = AttestationClaims(
                issuer=self.config.gateway_id,
                verification_id=verification_id,
                facility=case.facility,
                terminal_id=case.terminal_id,
                checks_passed=tuple(case.summary.get("checks_passed", ())),
                assurance_level=str(level),
                card_number=entitlement.card_number,
                decision=Outcome.ACCEPTED.value,
                issued_at=now,
                expires_at=now + self.config.attestation_ttl,
                operator=payload.get("operator"),
                reviewer=caller.terminal_id,
            )
            attestation = sign_attestation(claims, self.attestation_key)
            reasons = [Reason(r["code"], r["detail"]) for r in case.summary.get("reasons", [])]
        else:
            reasons = [Reason("REVIEW_REJECTED", digest)]
        event = AuditEvent(
            verification_id=verification_id,
            at=now,
            decision=ACCEPTED if accept else REJECTED,
            facility=case.facility,
            terminal_id=caller.terminal_id,
            reasons=reasons,
            action="review_resolved",
            assurance_level=str(level) if accept and level else None,
            document_number=payload.get("cccd"),
            operator=caller.terminal_id,
        )
        try:
            self.store.close_review_case(
                verification_id,
                builder(event, self.audit_key),
                state=ACCEPTED if accept else REJECTED,
                at=now,
                reviewer=caller.terminal_id,
                resolution=reason,
                attestation=attestation,
            )
        except CaseNotOpen:
            raise FailedPrecondition("the case was resolved or expired meanwhile") from None
        if accept and self.on_accepted is not None and entitlement is not None and attestation:
            cccd = payload.get("cccd")
            try:
                if cccd:
                    self.on_accepted(
                        verification_id=verification_id,
                        facility=case.facility,
                        terminal_id=case.terminal_id,
                        entitlement=entitlement,
                        attestation=attestation,
                        assurance_level=str(level),
                        cccd=cccd,
                        arrived_at=case.opened_at,
                        details=CheckinDetails(),
                    )
            except Unavailable:
                # The resolution stands (it is audited); only the QĐ 4750 record is missing.
                log.warning("review accepted but its check-in record was not stored: database unavailable")
        closed = dataclasses.replace(
            case,
            state=ACCEPTED if accept else REJECTED,
            resolved_at=now,
            reviewer=caller.terminal_id,
            resolution=reason,
            attestation=attestation,
        )
        return Resolution(closed, closed.state, entitlement, check, attestation)

    def _entitlement(
        self, payload: dict[str, str | None], now: dt.datetime
    ) -> tuple[Entitlement | None, EntitlementCheck | None]:
        card = payload.get("card_number")
        entitlement = self.store.entitlement_by_card(card) if card else None
        if entitlement is None:
            return None, None
        return entitlement, check_entitlement(
            entitlement, now.date(), name=payload.get("name"), dob=payload.get("dob")
        )

    async def get(self, caller: Caller, verification_id: str) -> Resolution:
        return await db(self._get, caller, verification_id)

    def _get(self, caller: Caller, verification_id: str) -> Resolution:
        now = self.clock()
        case, payload = self._load(verification_id)
        # terminal ids are unique within a facility only: the waiting terminal is both
        own = caller.terminal_id == case.terminal_id and caller.facility == case.facility
        if not own and not (caller.role == "reviewer" and _in_scope(caller, case)):
            raise NotFound("no review case for this verification id")
        state = case.state_at(now)
        if state == ACCEPTED and own:
            entitlement, check = self._entitlement(payload, now)
            return Resolution(case, state, entitlement, check, case.attestation)
        return Resolution(case, state)

    # --- expiry (the periodic sweep, any replica) -------------------------------------------------

    def sweep_expired(self) -> int:
        """Close and audit every open case past its expiry; replicas racing close each case once."""
        now = self.clock()
        closed = 0
        while True:
            batch = self.store.expired_review_cases(now)
            for case in batch:
                minutes = (case.expires_at - case.opened_at).total_seconds() / 60
                event = AuditEvent(
                    verification_id=case.verification_id,
                    at=now,
                    decision=Outcome.REJECTED.value,
                    facility=case.facility,
                    terminal_id=case.terminal_id,
                    reasons=[
                        Reason("REVIEW_EXPIRED", f"no reviewer resolved the case within {minutes:g} min")
                    ],
                    action="review_expired",
                )
                try:
                    self.store.close_review_case(
                        case.verification_id,
                        builder(event, self.audit_key),
                        state=EXPIRED,
                        at=now,
                        reviewer=None,
                        resolution=None,
                        attestation=None,
                    )
                    closed += 1
                except CaseNotOpen:
                    continue
            if len(batch) < 100:
                if closed:
                    log.info("expired %d review case(s)", closed)
                return closed

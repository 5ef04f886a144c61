"""The recorder: what happens to a decision once it is made. The fraud ledger, the audit record (exactly
once per spent challenge), the counter session, the attestation for an acceptance.

Cancellation-safe: the challenge is spent whatever happens next, so the record is written even if the
caller hangs up meanwhile (the work runs in a task of its own, which a cancelled handler waits out and
`drain` waits for at shutdown). A record that cannot be written now (the database is down, the
process is killed) is written by the orphan sweep: a spent challenge without a record, older than the
longest check, gets a REJECTED record on whichever replica sweeps first, at start and every half
minute. The append marks the challenge recorded in the same transaction, so a late original and the
sweep can never both write one, and an acceptance whose record lost that race is not released.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.attestation import AttestationClaims, sign_attestation
from bhytgate.audit.chain import AuditEvent, builder, document_key
from bhytgate.policy import collect
from bhytgate.policy.model import Decision, Outcome, Reason
from bhytgate.service.config import GatewayConfig
from bhytgate.service.model import Caller, Unavailable, VerifyInput, VerifyResult
from bhytgate.service.state import Session, Sessions
from bhytgate.storage.interface import AlreadyRecorded, ChallengeRecord, StoreUnavailable, VerificationEvent
from bhytgate.storage.sql import SqlStore

if TYPE_CHECKING:
    from bhytgate.service.review import ReviewService

log = logging.getLogger("bhytgate.recorder")


@dataclasses.dataclass(frozen=True, slots=True)
class RecordExtras:
    """What the record of one check needs beyond the result itself."""

    cccd: str | None = None
    doc_key: str | None = None
    # The document came from a QR: a rejection is counted under policy.collect.qr_fraud_key, so
    # that a forged QR cannot lock or move the holder's chip path.
    qr: bool = False
    face_mismatch: bool = False
    chip_image: bytes | None = None
    identity_ok: bool = False
    holder: tuple[str | None, str | None] = (None, None)
    challenge_id: str | None = None  # the spent challenge this record accounts for
    review_card: str | None = None  # REVIEW: the card an acceptance of its case would release
    review_facts: tuple[Any, ...] = ()  # REVIEW: service.review.FraudFact, pseudonyms and counts
    guardian: str | None = None  # a child's check-in: the guardian's verification id


class Recorder:
    def __init__(
        self,
        config: GatewayConfig,
        store: SqlStore,
        sessions: Sessions,
        *,
        audit_key: bytes,
        attestation_key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], dt.datetime],
        metrics: Any | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sessions = sessions
        self.audit_key = audit_key
        self.attestation_key = attestation_key
        self.clock = clock
        self.metrics = metrics
        self._background: set[asyncio.Future[VerifyResult]] = set()
        self.finishing: set[str] = set()  # verification ids whose record is being written
        self.reviews: ReviewService | None = None  # opens a case for every REVIEW (gateway wiring)
        # The QĐ 4750 check-in of an acceptance (checkin.service.Checkins.on_accepted), wired by the gateway.
        self.on_accepted: Callable[[Caller, VerifyInput, VerifyResult, str], VerifyResult] | None = None

    async def finish(
        self, caller: Caller, inp: VerifyInput, result: VerifyResult, extra: RecordExtras
    ) -> VerifyResult:
        """Record the decision; returns it with its attestation (an acceptance) and record timing."""
        self.finishing.add(result.verification_id)
        task = asyncio.ensure_future(asyncio.to_thread(self._record, caller, inp, result, extra))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        interrupted: asyncio.CancelledError | None = None
        while True:
            try:
                final = await asyncio.shield(task)
            except asyncio.CancelledError as exc:
                if task.cancelled():
                    raise
                interrupted = exc  # keep waiting: the record first, then the cancellation
                continue
            except Exception as exc:
                if interrupted is None:
                    raise
                log.error("record of an abandoned check failed: %s", type(exc).__name__)
                raise interrupted from None
            if interrupted is not None:
                raise interrupted
            return final

    async def drain(self) -> None:
        """Wait for the records still being written (of callers that hung up)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _record(
        self, caller: Caller, inp: VerifyInput, result: VerifyResult, extra: RecordExtras
    ) -> VerifyResult:
        start = time.perf_counter()
        now = result.verify_time
        operator = inp.operator.full_name if inp.operator else None
        recorded = False
        try:
            # The record first: a ledger entry must never exist for a check the log says was not
            # completed (the sweep may have recorded it). Both happen under the document's lock.
            event = AuditEvent(
                verification_id=result.verification_id,
                at=now,
                decision=result.outcome.value,
                facility=caller.facility,
                terminal_id=caller.terminal_id,
                reasons=result.reasons,
                assurance_level=result.assurance_level.value if result.assurance_level else None,
                document_number=extra.cccd,
                operator=operator,
                face_distance=result.face_distance,
                face_threshold=result.face_threshold,
            )
            self.store.append_audit(
                builder(event, self.audit_key),
                record_id=result.verification_id,
                challenge_id=extra.challenge_id,
            )
            recorded = True
            if result.outcome is Outcome.RETRY:
                # Nothing learned about fraud: no fraud event (not the mismatch lock, not the
                # terminal's rejection rate, not velocity). The audit record above keeps it.
                pass
            elif extra.cccd is None:
                # No document known (forged chip, bad challenge...): still counted for the terminal,
                # whose rejection rate is a fraud signal of its own.
                self.store.record_verification(
                    VerificationEvent(
                        f"none:{result.verification_id}",
                        caller.facility,
                        caller.terminal_id,
                        result.outcome.value,
                        False,
                        now,
                    )
                )
            else:
                key = extra.doc_key or document_key(self.audit_key, extra.cccd)
                if extra.qr and result.outcome is Outcome.REJECTED:
                    key = collect.qr_fraud_key(key)
                collect.record_outcome(
                    self.store,
                    document_key=key,
                    facility=caller.facility,
                    terminal_id=caller.terminal_id,
                    decision=Decision(result.outcome, result.reasons, result.assurance_level),
                    face_mismatch=extra.face_mismatch,
                    now=now,
                    policy=self.config.policy,
                )
        except StoreUnavailable as exc:
            # Nothing is released without its record; the orphan sweep writes it once the database
            # is back (the challenge stays spent and unrecorded until then).
            if recorded:
                raise Unavailable(
                    f"{exc}: the check's fraud counters were not written; start a new check"
                ) from None
            raise Unavailable(f"{exc}: the check could not be recorded; start a new check") from None
        except AlreadyRecorded:
            # The sweep took this challenge for abandoned (the check outlived every bound).
            raise Unavailable("the check took too long and was recorded as not completed") from None
        attestation = None
        if result.outcome is Outcome.ACCEPTED and result.entitlement is not None:
            assert result.assurance_level is not None
            claims = AttestationClaims(
                issuer=self.config.gateway_id,
                verification_id=result.verification_id,
                facility=caller.facility,
                terminal_id=caller.terminal_id,
                checks_passed=tuple(c for c, s in result.checks.items() if s == "PASSED"),
                assurance_level=result.assurance_level.value,
                card_number=result.entitlement.card_number,
                decision=result.outcome.value,
                issued_at=now,
                expires_at=now + self.config.attestation_ttl,
                operator=operator,
                guardian=extra.guardian,
            )
            attestation = sign_attestation(claims, self.attestation_key)
        if extra.cccd is not None:
            session = Session(
                extra.cccd,
                caller.terminal_id,
                extra.identity_ok,
                result.outcome,
                tuple(r.code for r in result.reasons),
                extra.chip_image,
                now,
                extra.holder,
                result.assurance_level.value if result.assurance_level else None,
                extra.challenge_id,
                caller.facility,
            )
            try:
                self.sessions.put(result.verification_id, session)
            except StoreUnavailable:
                log.warning("counter session not kept: database unavailable")
        review_expires = None
        if result.outcome is Outcome.REVIEW and extra.cccd is not None and self.reviews is not None:
            try:
                review_expires = self.reviews.open_case(
                    caller,
                    result,
                    cccd=extra.cccd,
                    card_number=extra.review_card,
                    holder=extra.holder,
                    operator=operator,
                    facts=extra.review_facts,
                )
            except StoreUnavailable:
                # The decision is recorded and releases nothing; without a case the desk checks
                # papers the old way.
                log.warning("review case not opened: database unavailable")
        timings = [*result.timings, ("record", (time.perf_counter() - start) * 1000)]
        final = dataclasses.replace(
            result, attestation=attestation, timings=timings, review_expires=review_expires
        )
        if attestation is not None and extra.cccd is not None and self.on_accepted is not None:
            final = self.on_accepted(caller, inp, final, extra.cccd)
        if self.metrics is not None:
            self.metrics.observe_decision(final)
        return final

    # --- counter and admin actions ---------------------------------------------------------

    def record_action(
        self,
        caller: Caller,
        decision: str,
        action: str,
        *,
        document_number: str | None,
        operator: str | None = None,
        record_id: str | None = None,
    ) -> str:
        """One audit record for a counter action; returns its id."""
        rid = record_id or uuid.uuid4().hex
        event = AuditEvent(
            rid,
            self.clock(),
            decision,
            caller.facility,
            caller.terminal_id,
            action=action,
            document_number=document_number,
            operator=operator,
        )
        try:
            self.store.append_audit(builder(event, self.audit_key), record_id=rid)
        except StoreUnavailable as exc:
            raise Unavailable(f"{exc}: the action was not recorded") from None
        return rid

    # --- the orphan sweep ------------------------------------------------------------------

    def sweep_orphans(self, now: dt.datetime | None = None) -> int:
        """Write the record of every spent challenge whose check can no longer be running."""
        moment = now or self.clock()
        bound = dt.timedelta(seconds=self.config.max_check_seconds + self.config.orphan_grace_s)
        written = 0
        while True:
            batch = self.store.unrecorded_challenges(moment - bound)
            for challenge in batch:
                written += self._record_orphan(challenge)
            if len(batch) < 100:
                return written

    def _record_orphan(self, challenge: ChallengeRecord) -> int:
        assert challenge.consumed_at is not None
        reason = Reason("INTERNAL_CHECK_UNAVAILABLE", "check not completed: the gateway stopped mid-check")
        event = AuditEvent(
            verification_id=f"orphan-{challenge.challenge_id}",
            at=challenge.consumed_at,
            decision=Outcome.REJECTED.value,
            facility=challenge.facility or "unknown",
            terminal_id=challenge.terminal_id,
            reasons=[reason],
        )
        try:
            self.store.append_audit(
                builder(event, self.audit_key),
                record_id=event.verification_id,
                challenge_id=challenge.challenge_id,
            )
        except AlreadyRecorded:
            return 0
        log.warning("recorded an abandoned check (terminal %s)", challenge.terminal_id)
        return 1

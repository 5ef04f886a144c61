"""The gateway: the verification flow, the counter and admin services, composed over their ports.

This module only wires: `verification.py` is the flow, `credentials/` the credential verifiers,
`reasons.py` the vocabulary, `recorder.py` what happens to a decision, `state.py` the shared state,
`counter.py` and `admin.py` the other services. The servicer calls the methods here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.audit.checkpoint import AuditCheckpoint
from bhytgate.checkin.record import CheckinRecord
from bhytgate.checkin.service import Checkins
from bhytgate.claims.match import Status, Summary
from bhytgate.claims.service import Reconciliation
from bhytgate.entitlement.model import Entitlement
from bhytgate.registration.service import RegistrationFlow
from bhytgate.service.admin import AdminService
from bhytgate.service.config import GatewayConfig
from bhytgate.service.counter import CounterService
from bhytgate.service.household import HouseholdService
from bhytgate.service.housekeeper import Housekeeper
from bhytgate.service.model import (
    AlreadyExists,
    BeginResult,
    Caller,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    Operator,
    PermissionDenied,
    RateLimited,
    Unavailable,
    VerifyInput,
    VerifyResult,
    db,
)
from bhytgate.service.privacy import PrivacyService
from bhytgate.service.recorder import Recorder
from bhytgate.service.review import ReviewService
from bhytgate.service.revocation import RevocationReason, RevokedCertificates
from bhytgate.service.state import (
    DocumentLock,
    InProcessDocumentLock,
    RateLimiter,
    Sessions,
    SharedFrameMemory,
    TerminalKeys,
)
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.verification import VerificationFlow, derive_aa_challenge
from bhytgate.service.workers import FacePool
from bhytgate.storage.revocations import Revocation
from bhytgate.storage.sql import SqlStore

SESSION_TTL = dt.timedelta(minutes=30)


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        store: SqlStore,
        trust: TrustAnchors,
        pool: FacePool,
        *,
        attestation_key: ec.EllipticCurvePrivateKey,
        audit_key: bytes,
        doc_lock: DocumentLock | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        metrics: Any | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.trust = trust
        self.pool = pool
        self.attestation_key = attestation_key
        self.audit_key = audit_key
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.metrics = metrics
        now = self._now  # the sub-services read the clock through here (tests move it)
        self.sessions = Sessions(store, SESSION_TTL)
        self.terminal_keys = TerminalKeys(store)
        # Revoked client certificates, checked on every call (gRPC and the console).
        self.revoked = RevokedCertificates(store)
        self.doc_lock = doc_lock or InProcessDocumentLock(config.document_lock_wait_s)
        self.recorder = Recorder(
            config,
            store,
            self.sessions,
            audit_key=audit_key,
            attestation_key=attestation_key,
            clock=now,
            metrics=metrics,
        )
        # The QĐ 4750 check-in record of every acceptance (checkin/), and claims reconciliation.
        self.checkins = Checkins(store, audit_key, config.checkin, now)
        self.recorder.on_accepted = self.checkins.on_accepted
        self.flow = VerificationFlow(
            config,
            store,
            trust,
            pool,
            self.recorder,
            doc_lock=self.doc_lock,
            frames=SharedFrameMemory(
                store, config.face.liveness.frame_store_capacity, dt.timedelta(hours=24)
            ),
            rate=RateLimiter(store, config.begin_rate_per_minute),
            terminal_keys=self.terminal_keys,
            audit_key=audit_key,
            clock=now,
        )
        self.counter = CounterService(
            config,
            store,
            pool,
            self.sessions,
            self.recorder,
            audit_key=audit_key,
            clock=now,
            face_limit=self.flow.face_limit,
        )
        self.reviews = ReviewService(
            config, store, audit_key=audit_key, attestation_key=attestation_key, clock=now
        )
        self.recorder.reviews = self.reviews
        self.reviews.on_accepted = self.checkins.store_checkin
        self.household = HouseholdService(
            config, store, self.sessions, audit_key=audit_key, attestation_key=attestation_key, clock=now
        )
        self.privacy = PrivacyService(
            config.privacy,
            store,
            self.sessions,
            self.recorder,
            audit_key=audit_key,
            clock=now,
            session_ttl=SESSION_TTL,
        )
        self.counter.privacy = self.privacy
        self.housekeeper = Housekeeper(
            store, config.privacy.retention, audit_key=audit_key, gateway_id=config.gateway_id, clock=now
        )
        self.admin = AdminService(
            store,
            trust,
            self.terminal_keys,
            self.recorder,
            self.revoked,
            attestation_key=attestation_key,
            clock=now,
            issuer=config.gateway_id,
        )
        # RegistrationService (its servicer calls this directly): remote registration after a Verify.
        self.registration = RegistrationFlow(
            config.registration,
            store,
            self.sessions,
            self.doc_lock,
            gateway_id=config.gateway_id,
            audit_key=audit_key,
            attestation_key=attestation_key,
            clock=now,
        )

    def _now(self) -> dt.datetime:
        return self.clock()

    # --- VerificationService ---------------------------------------------------------------

    async def begin(self, caller: Caller) -> BeginResult:
        return await self.flow.begin(caller)

    async def verify(self, caller: Caller, inp: VerifyInput, *, timeout: float | None = None) -> VerifyResult:
        return await self.flow.verify(caller, inp, timeout=timeout)

    def jwks(self) -> str:
        return self.admin.jwks()

    # --- CounterService ----------------------------------------------------------------------

    async def enroll(
        self,
        caller: Caller,
        verification_id: str,
        frames: Sequence[tuple[bytes, int]],
        *,
        timeout: float | None = None,
        consent_version: str,
        operator: str | None = None,
    ) -> str:
        return await self.counter.enroll(
            caller,
            verification_id,
            frames,
            timeout=timeout,
            consent_version=consent_version,
            operator=operator,
        )

    async def link(self, caller: Caller, cccd: str, bhxh: str, verification_id: str) -> Entitlement | None:
        return await self.counter.link(caller, cccd, bhxh, verification_id)

    async def report_lost(
        self, caller: Caller, cccd: str, document_number: str, reason: str, reporter: str
    ) -> str:
        return await self.counter.report_lost(caller, cccd, document_number, reason, reporter)

    # --- AdminService ------------------------------------------------------------------------

    async def load_trust(
        self,
        caller: Caller,
        cscas: Sequence[bytes],
        master_lists: Sequence[bytes],
        crls: Sequence[bytes],
        document_signers: Sequence[bytes] = (),
    ) -> tuple[int, int, int]:
        return await self.admin.load_trust(caller, cscas, master_lists, crls, document_signers)

    async def import_entitlements(
        self, caller: Caller, content: bytes, fmt: str, *, dry_run: bool
    ) -> tuple[int, int, list[Any]]:
        return await self.admin.import_entitlements(caller, content, fmt, dry_run=dry_run)

    async def register_terminal_key(self, caller: Caller, key_id: str, key: bytes) -> None:
        await self.admin.register_terminal_key(caller, key_id, key)

    async def revoke_certificate(
        self, caller: Caller, certificate: bytes, reason: RevocationReason
    ) -> tuple[Revocation, bool]:
        return await self.admin.revoke_certificate(caller, certificate, reason)

    async def verify_audit(
        self, checkpoints: Sequence[str] = (), *, facility: str = ""
    ) -> tuple[bool, int, int | None, str]:
        return await self.admin.verify_audit(checkpoints, facility=facility)

    async def audit_checkpoint(self) -> tuple[str, AuditCheckpoint]:
        return await self.admin.audit_checkpoint()

    # --- the QĐ 4750 check-in record and claims reconciliation (checkin/, claims/) -----------

    async def checkin_record(self, caller: Caller, verification_id: str) -> CheckinRecord:
        return await db(self.checkins.record_for, caller, verification_id)

    def reconciliation(self, window: dt.timedelta | None, caller: Caller) -> Reconciliation:
        """A reconciliation of one claims file (fed by the servicer as the bytes arrive), within
        the caller's facility scope: its own facility's files and check-ins, or all (auditor)."""
        default = self.config.checkin.claims_window
        return Reconciliation(
            self.store, self.checkins.keys, window=window or default, facility=caller.facility_scope
        )

    async def record_reconciliation(self, caller: Caller, summary: Summary) -> None:
        """One audit record per reconciled file: counts per class, no dossier data."""
        counts = ":".join(str(summary.counts[s]) for s in Status)
        await db(
            lambda: self.recorder.record_action(
                caller, f"CLAIMS_RECONCILED:{counts}", "reconcile_claims", document_number=None
            )
        )

    # --- lifecycle ---------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for the records still being written (of callers that hung up)."""
        await self.recorder.drain()

    async def close(self) -> None:
        await self.drain()
        await self.doc_lock.close()


__all__ = [
    "AlreadyExists",
    "BeginResult",
    "Caller",
    "FailedPrecondition",
    "Gateway",
    "InvalidRequest",
    "NotFound",
    "Operator",
    "PermissionDenied",
    "RateLimited",
    "Unavailable",
    "VerifyInput",
    "VerifyResult",
    "derive_aa_challenge",
]

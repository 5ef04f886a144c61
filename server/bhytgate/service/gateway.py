"""Where a verification is decided: the challenge, the chip, the face, the entitlement, the rules.

The flow, in order, stopping at the first hard failure so that forged or replayed requests cost
almost nothing (no face work for a chip that fails Passive Authentication):

1. admission: a face-worker slot is reserved first, so an overloaded gateway refuses with
   RESOURCE_EXHAUSTED *before* it consumes the caller's challenge;
2. the single-use challenge, consumed atomically (unknown / expired / replayed / other terminal);
3. the terminal's device signature over the capture, where the terminal has a registered key;
4. the credential: chip (Passive + Active Authentication, document expiry) or QR + enrolled template;
5. lost/stolen and biometric-lock status;
6. the face in a worker process: capture gate, liveness challenge, comparison with the chip photo
   (and any enrolled template); replayed frames are checked here, across workers, against storage;
7. the BHYT entitlement on today's date;
8. `policy.decide`, then the fraud event, the audit record and, for an acceptance, the attestation.

No protobuf here: the servicer translates.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.api.signing import frames_signing_payload
from bhytgate.attestation import AttestationClaims, jwks_json, sign_attestation
from bhytgate.audit.chain import AuditEvent, append_event, document_key, verify_chain
from bhytgate.chip import ChipError, dump_from_files, verify_chip
from bhytgate.chip.verify import ChipReport
from bhytgate.entitlement.importer import parse_entitlements
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.qr import QrFormatError, parse_bhyt_qr, parse_cccd_qr
from bhytgate.entitlement.validity import EntitlementCheck, check_entitlement
from bhytgate.face.liveness import (
    FrameFingerprint,
    InMemoryFrameStore,
    issue_challenge,
    load_device_key,
    verify_device_signature,
)
from bhytgate.face.template import template_from_bytes
from bhytgate.policy import collect
from bhytgate.policy.model import (
    AssuranceLevel,
    CheckResults,
    Decision,
    DocumentSource,
    FaceMatch,
    FraudSignals,
    Outcome,
    Reason,
    TerminalKind,
)
from bhytgate.policy.rules import decide
from bhytgate.service.config import GatewayConfig
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.workers import (
    FaceJob,
    FaceOutcome,
    FacePool,
    FaceUnavailable,
    LivenessSpec,
    Overloaded,
    check_kind,
)
from bhytgate.storage.interface import ChallengeProblem, ChallengeRecord, Store, VerificationEvent

log = logging.getLogger("bhytgate.gateway")
T = TypeVar("T")

AA_DOMAIN = b"bhytgate.v1.aa-challenge\n"
REQUIRED_DATA_GROUPS = (1, 2, 13)
SESSION_TTL = dt.timedelta(minutes=30)


def _dmy(text: str | None) -> dt.date | None:
    """A DG13 date (dd/mm/yyyy); None when absent or not a date."""
    try:
        return dt.datetime.strptime((text or "").strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def derive_aa_challenge(nonce: bytes) -> bytes:
    """The 32-byte Active Authentication challenge is bound to the nonce (and so to the capture)."""
    return hashlib.sha256(AA_DOMAIN + nonce).digest()


class InvalidRequest(Exception):
    """Well-formed on the wire but not usable: becomes INVALID_ARGUMENT with field violations."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in violations))
        self.violations = violations


class NotFound(Exception):
    pass


class FailedPrecondition(Exception):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated terminal (from its mTLS certificate)."""

    terminal_id: str
    facility: str
    role: str
    kind: TerminalKind


@dataclasses.dataclass(frozen=True, slots=True)
class Operator:
    full_name: str
    cccd_number: str


@dataclasses.dataclass(frozen=True, slots=True)
class BeginResult:
    challenge_id: str
    nonce: bytes
    aa_challenge: bytes
    actions: tuple[str, ...]
    expire_time: dt.datetime
    kind: TerminalKind
    required_level: AssuranceLevel


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyInput:
    challenge_id: str
    frames: Sequence[tuple[bytes, int]]
    chip_files: dict[str, bytes] | None = None
    qr: tuple[str, str] | None = None  # ("cccd" | "bhyt", text)
    aa_signatures: Sequence[bytes] | None = None
    terminal_signature: tuple[bytes, str] | None = None  # (signature, key id)
    operator: Operator | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyResult:
    verification_id: str
    outcome: Outcome
    reasons: list[Reason]
    assurance_level: AssuranceLevel | None
    face_distance: float | None
    face_threshold: float | None
    timings: list[tuple[str, float]]
    entitlement: Entitlement | None
    entitlement_check: EntitlementCheck | None
    attestation: str | None
    checks: dict[str, str]  # check -> PASSED | FAILED | SKIPPED
    verify_time: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class _Session:
    """A recent verification, kept briefly for counter follow-ups (enrolment, linking)."""

    cccd_number: str
    terminal_id: str
    identity_ok: bool
    outcome: Outcome
    reason_codes: tuple[str, ...]
    chip_image: bytes | None
    at: dt.datetime
    holder: tuple[str | None, str | None] = (None, None)  # name and date of birth from the chip


CHECKS = (
    "CHALLENGE",
    "TERMINAL_SIGNATURE",
    "PASSIVE_AUTH",
    "ACTIVE_AUTH",
    "DOCUMENT_STATUS",
    "FACE_MATCH",
    "LIVENESS",
    "ENTITLEMENT",
    "FRAUD_RULES",
)

_CHALLENGE_REASONS = {
    ChallengeProblem.UNKNOWN: ("CHALLENGE_UNKNOWN", "challenge was never issued or has been purged"),
    ChallengeProblem.EXPIRED: ("CHALLENGE_EXPIRED", "challenge expired before Verify"),
    ChallengeProblem.REPLAYED: ("CHALLENGE_REPLAYED", "challenge was already used by an earlier Verify"),
    ChallengeProblem.TERMINAL_MISMATCH: (
        "CHALLENGE_TERMINAL_MISMATCH",
        "challenge belongs to another terminal",
    ),
}

_LIVENESS_REASONS = {
    "liveness_frame_replayed": "FRAMES_REPLAYED",
    "liveness_card_photo": "CARD_PHOTO_PRESENTED",
    "liveness_bad_signature": "TERMINAL_SIGNATURE_INVALID",
}

_FACE_CAPTURE_REASONS = {"no_face": "NO_FACE", "multiple_faces": "MULTIPLE_FACES"}


def chip_reasons(report: ChipReport) -> list[Reason]:
    """Precise reasons from the chip report, in the gateway's vocabulary; empty if the chip is fine."""
    passive = report.passive
    out: list[Reason] = []
    if not passive.signature.valid:
        out.append(Reason("CHIP_SIGNATURE_INVALID", f"EF.SOD: {passive.signature.reason}"))
    chain = passive.chain.reason
    if chain and passive.signature.valid:
        if chain == "ds_revoked":
            code = "SIGNER_REVOKED"
        elif chain.endswith(("expired", "not_yet_valid")):
            code = "SIGNER_EXPIRED"
        else:
            code = "SIGNER_UNTRUSTED"
        out.append(Reason(code, f"Document Signer: {chain}"))
    if not passive.country.valid:
        out.append(Reason("SIGNER_UNTRUSTED", "DG1 issuing state differs from the signer's country"))
    for number, status in passive.data_groups.items():
        if status == "mismatch":
            out.append(Reason("DATA_GROUP_HASH_MISMATCH", f"DG{number} hash differs from EF.SOD"))
    if not out:
        for number in REQUIRED_DATA_GROUPS:
            required = passive.data_groups.get(number)
            if required != "match":
                out.append(Reason("DATA_GROUP_NOT_IN_SOD", f"DG{number} is {required or 'absent'}"))
        for name, reason in report.document.errors.items():
            if name in ("DG1", "DG2", "DG13"):
                out.append(Reason("CHIP_DATA_MALFORMED", f"{name}: {reason}"))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Evidence:
    """What steps 1-4 established, handed to the per-document part of the check."""

    source: DocumentSource
    challenge: ChallengeRecord
    report: ChipReport | None
    issue_date: dt.date | None
    chip_image: bytes | None
    template: bytes | None
    name: str | None
    dob: str | None
    aa_ok: bool | None
    document_expired: bool | None


@dataclasses.dataclass(slots=True)
class _Attempt:
    """One Verify call once its challenge is spent: what a record of it needs if the caller hangs up."""

    vid: str
    now: dt.datetime
    timings: _Timings
    checks: dict[str, str]
    cccd: str | None = None
    doc_key: str | None = None


class _Timings:
    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages.append((name, (time.perf_counter() - start) * 1000))

    def add(self, name: str, millis: float) -> None:
        self.stages.append((name, millis))


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        store: Store,
        trust: TrustAnchors,
        pool: FacePool,
        *,
        attestation_key: ec.EllipticCurvePrivateKey,
        audit_key: bytes,
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
        self._frames = InMemoryFrameStore(config.face.liveness.frame_store_capacity)
        self._sessions: collections.OrderedDict[str, _Session] = collections.OrderedDict()
        self._doc_locks: dict[str, asyncio.Lock] = {}
        self._doc_waiters: dict[str, int] = {}
        self._background: set[asyncio.Future[VerifyResult]] = set()  # records being written
        self._finishing: set[str] = set()  # verification ids whose record is being written
        self._begin_times: dict[str, collections.deque[float]] = {}
        self._begins_since_purge = 0
        self._audit_lock = asyncio.Lock()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    # --- BeginVerification ----------------------------------------------------------------

    def _admit_begin(self, terminal_id: str) -> None:
        """At most `begin_rate_per_minute` challenges per terminal per minute: a terminal cannot
        flood the challenge table (each BeginVerification is a database write)."""
        window = self._begin_times.setdefault(terminal_id, collections.deque())
        moment = time.monotonic()
        while window and moment - window[0] > 60:
            window.popleft()
        limit = self.config.begin_rate_per_minute
        if len(window) >= limit:
            raise Overloaded(f"more than {limit} challenges a minute from this terminal")
        window.append(moment)

    async def begin(self, caller: Caller) -> BeginResult:
        self._admit_begin(caller.terminal_id)
        now = self.clock()
        self._begins_since_purge += 1
        if self._begins_since_purge >= 500:
            self._begins_since_purge = 0
            await self._db(self.store.purge_challenges, now - dt.timedelta(hours=1))
        live = self.config.face.liveness
        required_liveness = self.config.policy.liveness_required.get(caller.kind, True)
        now_ms = int(now.timestamp() * 1000)
        if required_liveness:
            challenge = issue_challenge(now_ms, live)
            nonce, actions = challenge.nonce, tuple(a.value for a in challenge.actions)
        else:
            nonce, actions = secrets.token_bytes(32), ()
        ttl = (
            max(self.config.challenge_ttl, dt.timedelta(milliseconds=live.window_ms))
            if actions
            else (self.config.challenge_ttl)
        )
        record = ChallengeRecord(
            challenge_id=uuid.uuid4().hex,
            terminal_id=caller.terminal_id,
            nonce=nonce,
            aa_challenge=derive_aa_challenge(nonce),
            actions=actions,
            issued_at=now,
            expires_at=now + ttl,
        )
        await self._db(self.store.issue_challenge, record)
        level = self.config.policy.min_assurance.get(caller.kind, AssuranceLevel.CHIP_AA_FACE_LIVENESS)
        return BeginResult(
            record.challenge_id, nonce, record.aa_challenge, actions, record.expires_at, caller.kind, level
        )

    # --- Verify ---------------------------------------------------------------------------

    def _face_limit(self, timeout: float | None) -> float:
        """Without a caller deadline the face work is still bounded: a job that runs away is
        abandoned (its worker stays counted by admission until it really ends)."""
        cap = self.config.max_check_seconds
        return cap if timeout is None else min(timeout, cap)

    async def verify(self, caller: Caller, inp: VerifyInput, *, timeout: float | None = None) -> VerifyResult:
        limit = self._face_limit(timeout)
        async with self.pool.slot(check_kind(len(inp.frames))):
            return await self._verify(caller, inp, limit)

    @contextlib.asynccontextmanager
    async def _document_lock(self, doc_key: str) -> AsyncIterator[None]:
        """One check per document at a time: the fraud rules read the document's history before the
        face work and record the outcome after it, so two simultaneous checks of one card (at two
        facilities, or a burst of impostor attempts) must not both read the same history."""
        lock = self._doc_locks.get(doc_key)
        if lock is None:
            lock = self._doc_locks[doc_key] = asyncio.Lock()
        self._doc_waiters[doc_key] = self._doc_waiters.get(doc_key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._doc_waiters[doc_key] -= 1
            if self._doc_waiters[doc_key] == 0:
                del self._doc_waiters[doc_key]
                del self._doc_locks[doc_key]

    async def _verify(self, caller: Caller, inp: VerifyInput, timeout: float | None) -> VerifyResult:
        vid = uuid.uuid4().hex
        now = self.clock()
        t = _Timings()
        checks = dict.fromkeys(CHECKS, "SKIPPED")

        def reject(reasons: list[Reason], **kw: Any) -> VerifyResult:
            return self._result(vid, now, Outcome.REJECTED, reasons, t, checks, **kw)

        # 2. the challenge
        with t.stage("challenge"):
            consumed = await self._db(self.store.consume_challenge, inp.challenge_id, caller.terminal_id, now)
        try:
            if isinstance(consumed, ChallengeProblem):
                checks["CHALLENGE"] = "FAILED"
                code, detail = _CHALLENGE_REASONS[consumed]
                return await self._finish(caller, inp, reject([Reason(code, detail)]), None)
            attempt = _Attempt(vid, now, t, checks)
            try:
                return await self._verify_spent(caller, inp, attempt, consumed, timeout)
            except asyncio.CancelledError:
                # The caller hung up (or the server is stopping) after the challenge was spent:
                # the attempt must not vanish from the audit log (a no-op when its record is
                # already being written).
                await self._record_abandoned(caller, inp, attempt)
                raise
        finally:
            self._finishing.discard(vid)

    async def _record_abandoned(self, caller: Caller, inp: VerifyInput, attempt: _Attempt) -> None:
        if attempt.vid in self._finishing:
            return
        reason = Reason("INTERNAL_CHECK_UNAVAILABLE", "check not completed: caller cancelled")
        result = self._result(
            attempt.vid, attempt.now, Outcome.REJECTED, [reason], attempt.timings, attempt.checks
        )
        await self._finish(caller, inp, result, attempt.cccd, doc_key=attempt.doc_key)

    async def _verify_spent(
        self,
        caller: Caller,
        inp: VerifyInput,
        attempt: _Attempt,
        challenge: ChallengeRecord,
        timeout: float | None,
    ) -> VerifyResult:
        """Steps 3-8, once the challenge is spent."""
        vid, now, t, checks = attempt.vid, attempt.now, attempt.timings, attempt.checks
        source = DocumentSource.CHIP if inp.chip_files is not None else DocumentSource.QR

        def reject(reasons: list[Reason], **kw: Any) -> VerifyResult:
            return self._result(vid, now, Outcome.REJECTED, reasons, t, checks, **kw)

        checks["CHALLENGE"] = "PASSED"

        # 3. the terminal's device signature
        signature_problem = self._check_terminal_signature(inp, challenge)
        if signature_problem is not None:
            checks["TERMINAL_SIGNATURE"] = "FAILED"
            return await self._finish(caller, inp, reject([signature_problem]), None)
        if inp.terminal_signature is not None:
            checks["TERMINAL_SIGNATURE"] = "PASSED"

        # 4. the credential
        report: ChipReport | None = None
        issue_date: dt.date | None = None
        chip_image: bytes | None = None
        template: bytes | None = None
        name = dob = None
        aa_ok: bool | None = None
        document_expired: bool | None = None
        if inp.chip_files is not None:
            with t.stage("chip"):
                try:
                    dump = dump_from_files(inp.chip_files)
                    report = await asyncio.to_thread(
                        verify_chip,
                        dump,
                        self.trust.store,
                        at=now,
                        challenge=challenge.aa_challenge if inp.aa_signatures else None,
                        aa_signatures=list(inp.aa_signatures or []),
                        policy=self.config.chip,
                    )
                except ChipError as exc:
                    # Unusable input is INVALID_ARGUMENT, but the challenge is spent: record it.
                    checks["PASSIVE_AUTH"] = "FAILED"
                    malformed = Reason("CHIP_DATA_MALFORMED", f"EF.SOD: {exc.reason}")
                    await self._finish(caller, inp, reject([malformed]), None)
                    raise InvalidRequest([("chip.ef_sod", f"{exc.message} [{exc.reason}]")]) from exc
            problems = chip_reasons(report)
            checks["PASSIVE_AUTH"] = "FAILED" if problems else "PASSED"
            aa_capable = 15 in report.passive.data_groups  # EF.SOD lists the AA key
            if report.active is not None and report.active.reason == "aa_key_absent":
                problems.append(Reason("AA_MISSING", "EF.SOD lists DG15 but DG15 was not sent"))
            elif report.active is not None:
                aa_ok = report.active.valid
                checks["ACTIVE_AUTH"] = "PASSED" if aa_ok else "FAILED"
                if not aa_ok and not problems:
                    problems.append(
                        Reason("CHIP_NOT_GENUINE", f"Active Authentication: {report.active.reason}")
                    )
            elif aa_capable:
                # A chip that can prove it is genuine must do so at every terminal: otherwise a copy
                # of its data on another chip would pass wherever the proof is not asked for.
                problems.append(
                    Reason("AA_MISSING", "the chip supports Active Authentication; no answer was sent")
                )
            elif self.config.require_active_authentication:
                problems.append(
                    Reason("AA_MISSING", "chip without Active Authentication (no DG15 in EF.SOD)")
                )
            if any(r.code == "AA_MISSING" for r in problems):
                checks["ACTIVE_AUTH"] = "FAILED"
            if problems:
                return await self._finish(caller, inp, reject(problems), None)
            doc = report.document
            assert doc.mrz is not None and doc.face is not None
            cccd = (doc.dg13.get("id_number") if doc.dg13 else None) or doc.mrz.optional_data[:12]
            name = doc.dg13.get("full_name") if doc.dg13 else None
            dob = doc.dg13.get("date_of_birth") if doc.dg13 else None
            chip_image = doc.face.image
            issue_date = _dmy(doc.dg13.get("issue_date")) if doc.dg13 else None
            expiry = doc.mrz.date_of_expiry
            # Only the explicit no-expiry rule means "no expiry"; an unreadable date is no date.
            unreadable = expiry is None and not doc.mrz.no_expiry
            document_expired = unreadable or (expiry is not None and expiry < now.date())
            checks["DOCUMENT_STATUS"] = "FAILED" if document_expired else "PASSED"
            if document_expired:
                detail = "CCCD expiry date unreadable" if unreadable else "CCCD past its expiry date"
                return await self._finish(caller, inp, reject([Reason("DOCUMENT_EXPIRED", detail)]), cccd)
            stored = await self._db(self.store.get_face_template, cccd)
            template = stored.template if stored is not None else None
        else:
            assert inp.qr is not None
            found = await self._qr_holder(inp.qr)
            if isinstance(found, Reason):
                return await self._finish(caller, inp, reject([found]), None)
            cccd, template, name, dob = found
            document_expired = False
            checks["DOCUMENT_STATUS"] = "PASSED"

        # 5-8 run one at a time per document (the fraud rules read, then record, its history)
        state = _Evidence(
            source, challenge, report, issue_date, chip_image, template, name, dob, aa_ok, document_expired
        )
        doc_key = document_key(self.audit_key, cccd)
        attempt.cccd, attempt.doc_key = cccd, doc_key
        async with self._document_lock(doc_key):
            try:
                return await self._decide_for_document(
                    caller, inp, vid, now, t, checks, state, cccd, doc_key, timeout
                )
            except asyncio.CancelledError:
                # Recorded while the document is still locked: the next check of this card must
                # see this attempt in its history.
                await self._record_abandoned(caller, inp, attempt)
                raise

    async def _decide_for_document(
        self,
        caller: Caller,
        inp: VerifyInput,
        vid: str,
        now: dt.datetime,
        t: _Timings,
        checks: dict[str, str],
        state: _Evidence,
        cccd: str,
        doc_key: str,
        timeout: float | None,
    ) -> VerifyResult:
        source, challenge, report, chip_image = state.source, state.challenge, state.report, state.chip_image
        name, dob, aa_ok, document_expired = state.name, state.dob, state.aa_ok, state.document_expired

        def reject(reasons: list[Reason]) -> VerifyResult:
            return self._result(vid, now, Outcome.REJECTED, reasons, t, checks)

        # 5. lost/stolen and locks, before any face work
        with t.stage("fraud_signals"):
            fraud = await self._db(self._fraud_signals, doc_key, state.issue_date, caller, now)
        early = []
        if fraud.reported_lost:
            early.append(
                Reason("DOCUMENT_REPORTED_LOST", "document reported lost, stolen or holder deceased")
            )
        if fraud.biometric_locked_until is not None and fraud.biometric_locked_until > now:
            early.append(
                Reason("FRAUD_BIOMETRIC_LOCKED", "repeated face mismatches: biometric check-in locked")
            )
        if early:
            checks["DOCUMENT_STATUS" if fraud.reported_lost else "FRAUD_RULES"] = "FAILED"
            return await self._finish(caller, inp, reject(early), cccd)

        # 6. the face, in a worker process
        liveness = None
        issued_ms = int(challenge.issued_at.timestamp() * 1000)
        if challenge.actions:
            # The actions must be performed within the liveness window, however long the
            # challenge itself stays valid for the chip and the upload.
            window_end = issued_ms + self.config.face.liveness.window_ms
            liveness = LivenessSpec(
                challenge.nonce,
                tuple(challenge.actions),
                issued_ms,
                min(window_end, int(challenge.expires_at.timestamp() * 1000)),
            )
        else:
            now_ms = int(now.timestamp() * 1000)
            if any(not issued_ms <= ts <= now_ms for _, ts in inp.frames):
                checks["LIVENESS"] = "FAILED"
                stale = Reason("LIVENESS_FAILED", "capture time outside the challenge window")
                return await self._finish(caller, inp, reject([stale]), cccd, doc_key=doc_key)
        job = FaceJob(
            frames=tuple(inp.frames),
            now_ms=int(now.timestamp() * 1000),
            chip_image=chip_image,
            template=state.template,
            liveness=liveness,
        )
        with t.stage("face"):
            try:
                face = await self.pool.run(job, timeout=timeout)
            except (TimeoutError, FaceUnavailable) as exc:
                # The challenge is used up: leave a record of the attempt before reporting.
                detail = f"face check not completed: {type(exc).__name__}"
                await self._finish(
                    caller, inp, reject([Reason("INTERNAL_CHECK_UNAVAILABLE", detail)]), cccd, doc_key=doc_key
                )
                raise
        for stage, millis in face.timings.items():
            t.add(f"face.{stage}", millis)
        with t.stage("replay"):
            replay = await self._replayed(inp.frames, face, now)

        # 7. the entitlement
        with t.stage("entitlement"):
            entitlements = await self._db(self.store.entitlements_by_cccd, cccd)
        # The holder's own card first (its record names this CCCD), then cards reached by a link.
        own = [e for e in entitlements if e.cccd_number == cccd]
        candidates = own or entitlements
        entitlement = candidates[0] if candidates else None
        ent_check = (
            check_entitlement(entitlement, now.date(), name=name, dob=dob)
            if entitlement is not None
            else None
        )

        # 8. decide
        results = self._check_results(
            source, report, aa_ok, document_expired, face, liveness, replay, ent_check, inp, challenge
        )
        decision = decide(results, fraud, caller.kind, self.config.policy)
        reasons = self._refine(decision.reasons, face, replay, ent_check)
        outcome = decision.outcome
        if outcome is Outcome.ACCEPTED and ent_check is not None and ent_check.needs_review:
            outcome = Outcome.REVIEW
            reasons = [
                Reason("CARD_MANAGED_ELSEWHERE", f"maKetQua {ent_check.ma_ket_qua.value}: check papers")
            ]
        self._fill_checks(checks, results, reasons, fraud)
        distance = face.template_distance if source is DocumentSource.QR else face.chip_distance
        result = self._result(
            vid,
            now,
            outcome,
            reasons,
            t,
            checks,
            level=decision.assurance_level,
            distance=distance,
            threshold=face.threshold,
            entitlement=entitlement if outcome is Outcome.ACCEPTED else None,
            ent_check=ent_check if outcome is Outcome.ACCEPTED else None,
        )
        face_mismatch = any(r.code in ("FACE_MISMATCH", "TEMPLATE_MISMATCH") for r in reasons)
        return await self._finish(
            caller,
            inp,
            result,
            cccd,
            doc_key=doc_key,
            face_mismatch=face_mismatch,
            chip_image=chip_image,
            identity_ok=self._identity_ok(reasons),
            holder=(name, dob) if source is DocumentSource.CHIP else (None, None),
        )

    # --- verify helpers ---------------------------------------------------------------------

    def _check_terminal_signature(self, inp: VerifyInput, challenge: ChallengeRecord) -> Reason | None:
        """Where a terminal has a registered device key, its signature over the capture is required."""
        registered = self.config.terminal_keys_dir / f"{challenge.terminal_id}.pem"
        if inp.terminal_signature is None:
            if registered.exists():
                return Reason("TERMINAL_SIGNATURE_INVALID", "terminal has a device key but sent no signature")
            return None
        signature, key_id = inp.terminal_signature
        path = self.config.terminal_keys_dir / f"{key_id}.pem"
        if not key_id or key_id != challenge.terminal_id or not path.exists():
            return Reason("TERMINAL_SIGNATURE_INVALID", "unknown terminal key")
        try:
            key = load_device_key(path.read_bytes())
            payload = frames_signing_payload(challenge.nonce, inp.frames)
        except ValueError:
            return Reason("TERMINAL_SIGNATURE_INVALID", "terminal key or frames unusable for a signature")
        if not verify_device_signature(key, signature, payload):
            return Reason("TERMINAL_SIGNATURE_INVALID", "terminal signature does not verify")
        return None

    async def _qr_holder(self, qr: tuple[str, str]) -> tuple[str, bytes, str, str] | Reason:
        """Whose enrolled template to compare with, and the name and birth date the QR claims (the
        entitlement must agree with them, as the card-check service's lookup requires)."""
        kind, text = qr
        try:
            if kind == "cccd":
                cccd_qr = parse_cccd_qr(text)
                cccd: str | None = cccd_qr.cccd_number
                name, dob = cccd_qr.full_name, cccd_qr.date_of_birth.strftime("%d/%m/%Y")
            else:
                bhyt_qr = parse_bhyt_qr(text)
                ent = await self._db(self.store.entitlement_by_card, bhyt_qr.card_number.value)
                cccd = ent.cccd_number if ent is not None else None
                name, dob = bhyt_qr.full_name, bhyt_qr.date_of_birth
        except QrFormatError as exc:
            return Reason("QR_UNUSABLE", f"QR {exc.field}: {exc.message}")
        if not cccd:
            return Reason("QR_UNUSABLE", "no holder known for this QR")
        stored = await self._db(self.store.get_face_template, cccd)
        if stored is None:
            return Reason("TEMPLATE_NOT_ENROLLED", "no face template enrolled for this holder")
        return cccd, stored.template, name, dob

    def _fraud_signals(
        self, doc_key: str, issue_date: dt.date | None, caller: Caller, now: dt.datetime
    ) -> FraudSignals:
        signals = collect.collect_fraud_signals(
            self.store,
            document_key=doc_key,
            facility=caller.facility,
            terminal_id=caller.terminal_id,
            now=now,
            policy=self.config.policy,
        )
        if signals.reported_lost:
            # A lost or stolen card is replaced by a new card with the same CCCD number: a report
            # blocks the cards issued up to the day it was made, not the replacement. A reported
            # death blocks every card.
            report = self.store.lost_report(doc_key)
            if (
                report is not None
                and report.reason != "deceased"
                and issue_date is not None
                and issue_date > report.reported_at.date()
            ):
                signals = dataclasses.replace(signals, reported_lost=False)
        return signals

    async def _replayed(
        self, frames: Sequence[tuple[bytes, int]], face: FaceOutcome, now: dt.datetime
    ) -> Reason | None:
        """Frames seen in an earlier check: exact bytes (persistent, all workers) or near-duplicates."""
        digests = [hashlib.sha256(image).digest() for image, _ in frames]
        seen = await self._db(self.store.add_frame_hashes, digests, now)
        if seen:
            return Reason("FRAMES_REPLAYED", f"{len(seen)} frame(s) identical to an earlier check")
        max_hamming = self.config.face.liveness.replay_max_hamming
        fingerprints = [FrameFingerprint(sha, phash) for sha, phash in face.fingerprints]
        if any(self._frames.seen(fp, max_hamming) for fp in fingerprints):
            return Reason("FRAMES_REPLAYED", "frame(s) nearly identical to an earlier check")
        self._frames.remember(fingerprints)
        return None

    def _check_results(
        self,
        source: DocumentSource,
        report: ChipReport | None,
        aa_ok: bool | None,
        document_expired: bool | None,
        face: FaceOutcome,
        liveness: LivenessSpec | None,
        replay: Reason | None,
        ent_check: EntitlementCheck | None,
        inp: VerifyInput,
        challenge: ChallengeRecord,
    ) -> CheckResults:
        threshold = face.threshold if face.threshold is not None else self.config.face.match_threshold

        def as_match(distance: float | None) -> FaceMatch | None:
            if distance is None:
                return None
            return FaceMatch(distance, threshold, distance <= threshold)

        capture = face.capture_failure or face.reference_failure
        face_failure = None
        if capture is not None:
            face_failure = _FACE_CAPTURE_REASONS.get(capture, "POOR_FACE_QUALITY")
        liveness_ok = face.liveness_ok
        liveness_failure = face.liveness_failure
        if replay is not None:
            liveness_ok, liveness_failure = False, "liveness_frame_replayed"
        elif (
            liveness is None
            and face.chip_distance is not None
            and face.chip_distance < self.config.face.liveness.card_photo_min_distance
        ):
            liveness_ok, liveness_failure = False, "liveness_card_photo"
        return CheckResults(
            document_source=source,
            chip_passive_ok=(report.passive.valid if report is not None else None),
            aa_ok=aa_ok,
            challenge_ok=True,
            document_expired=document_expired,
            face_failure_code=face_failure,
            face_match=as_match(face.chip_distance) if source is DocumentSource.CHIP else None,
            template_match=as_match(face.template_distance),
            liveness_ok=liveness_ok,
            liveness_failure=liveness_failure,
            operator=inp.operator.full_name if inp.operator else None,
            # 001/002 (army/police funds): not refused, but a person checks the papers (REVIEW)
            entitlement_usable=(ent_check.usable or ent_check.needs_review)
            if ent_check is not None
            else False,
            ma_ket_qua=(ent_check.ma_ket_qua.value if ent_check is not None else None),
        )

    def _refine(
        self, reasons: list[Reason], face: FaceOutcome, replay: Reason | None, ent: EntitlementCheck | None
    ) -> list[Reason]:
        """The policy speaks in broad codes; say exactly what failed where we know it."""
        out: list[Reason] = []
        for reason in reasons:
            code, detail = reason.code, reason.detail
            if code == "LIVENESS_FAILED":
                if replay is not None:
                    code, detail = replay.code, replay.detail
                elif face.liveness_failure in _LIVENESS_REASONS:
                    code = _LIVENESS_REASONS[face.liveness_failure]
                    detail = face.capture_detail or detail
                elif face.liveness_failure == "liveness_card_photo" or detail == "liveness_card_photo":
                    code, detail = "CARD_PHOTO_PRESENTED", "the capture is the chip photo itself"
                elif face.liveness_failure:
                    detail = face.liveness_failure
            elif code in ("NO_FACE", "MULTIPLE_FACES", "POOR_FACE_QUALITY"):
                which = "chip photo" if face.reference_failure else "live capture"
                detail = f"{which}: {face.capture_failure or face.reference_failure}"
            elif code == "NO_ENTITLEMENT" and ent is not None:
                mkq = ent.ma_ket_qua.value
                if mkq.startswith("12"):
                    code = "CARD_REDUCED"
                elif mkq in ("060", "061", "070", "080"):
                    code = "HOLDER_DATA_MISMATCH"
                elif mkq in ("001", "002"):
                    code = "CARD_MANAGED_ELSEWHERE"
                detail = f"maKetQua {mkq}"
            elif code == "NO_ENTITLEMENT":
                detail = "no BHYT card known for this CCCD"
            out.append(Reason(code, detail))
        return out

    @staticmethod
    def _identity_ok(reasons: list[Reason]) -> bool:
        """Did the person prove to be the card's holder, whatever the entitlement says?"""
        identity_codes = {r.code for r in reasons} - {
            "NO_ENTITLEMENT",
            "CARD_EXPIRED",
            "CARD_REVOKED",
            "CARD_REDUCED",
            "CARD_MANAGED_ELSEWHERE",
            "FRAUD_VELOCITY",
            "FRAUD_TERMINAL_FLAGGED",
        }
        return not identity_codes

    def _fill_checks(
        self, checks: dict[str, str], results: CheckResults, reasons: list[Reason], fraud: FraudSignals
    ) -> None:
        codes = {r.code for r in reasons}
        if results.face_match is not None or results.template_match is not None or results.face_failure_code:
            face_codes = {
                "FACE_MISMATCH",
                "TEMPLATE_MISMATCH",
                "NO_FACE",
                "MULTIPLE_FACES",
                "POOR_FACE_QUALITY",
            }
            checks["FACE_MATCH"] = "FAILED" if codes & face_codes else "PASSED"
        if results.liveness_ok is not None:
            checks["LIVENESS"] = "PASSED" if results.liveness_ok else "FAILED"
        entitlement_codes = {
            "NO_ENTITLEMENT",
            "CARD_EXPIRED",
            "CARD_REVOKED",
            "CARD_REDUCED",
            "HOLDER_DATA_MISMATCH",
        }
        checks["ENTITLEMENT"] = "FAILED" if codes & entitlement_codes else "PASSED"
        fraud_codes = {"FRAUD_VELOCITY", "FRAUD_BIOMETRIC_LOCKED", "FRAUD_TERMINAL_FLAGGED"}
        checks["FRAUD_RULES"] = "FAILED" if codes & fraud_codes else "PASSED"

    def _result(
        self,
        vid: str,
        now: dt.datetime,
        outcome: Outcome,
        reasons: list[Reason],
        t: _Timings,
        checks: dict[str, str],
        *,
        level: AssuranceLevel | None = None,
        distance: float | None = None,
        threshold: float | None = None,
        entitlement: Entitlement | None = None,
        ent_check: EntitlementCheck | None = None,
    ) -> VerifyResult:
        return VerifyResult(
            verification_id=vid,
            outcome=outcome,
            reasons=reasons,
            assurance_level=level if outcome is not Outcome.REJECTED else None,
            face_distance=distance,
            face_threshold=threshold,
            timings=t.stages,
            entitlement=entitlement,
            entitlement_check=ent_check,
            attestation=None,
            checks=checks,
            verify_time=now,
        )

    async def _finish(
        self,
        caller: Caller,
        inp: VerifyInput,
        result: VerifyResult,
        cccd: str | None,
        *,
        doc_key: str | None = None,
        face_mismatch: bool = False,
        chip_image: bytes | None = None,
        identity_ok: bool = False,
        holder: tuple[str | None, str | None] = (None, None),
    ) -> VerifyResult:
        """Record the event and the audit entry; sign the attestation for an acceptance.

        The challenge is spent whatever happens next, so the record is written even if the caller
        hangs up meanwhile: the work runs in a task of its own, which a cancelled handler waits out
        before the cancellation goes on (and `drain` waits for at shutdown)."""
        self._finishing.add(result.verification_id)
        task = asyncio.ensure_future(
            self._record(
                caller,
                inp,
                result,
                cccd,
                doc_key=doc_key,
                face_mismatch=face_mismatch,
                chip_image=chip_image,
                identity_ok=identity_ok,
                holder=holder,
            )
        )
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

    async def _record(
        self,
        caller: Caller,
        inp: VerifyInput,
        result: VerifyResult,
        cccd: str | None,
        *,
        doc_key: str | None,
        face_mismatch: bool,
        chip_image: bytes | None,
        identity_ok: bool,
        holder: tuple[str | None, str | None],
    ) -> VerifyResult:
        start = time.perf_counter()
        now = result.verify_time
        operator = inp.operator.full_name if inp.operator else None
        if cccd is None:
            # No document known (forged chip, bad challenge...): still counted for the terminal,
            # whose rejection rate is a fraud signal of its own.
            terminal_event = VerificationEvent(
                f"none:{result.verification_id}",
                caller.facility,
                caller.terminal_id,
                result.outcome.value,
                False,
                now,
            )
            await self._db(self.store.record_verification, terminal_event)
        else:
            key = doc_key or document_key(self.audit_key, cccd)
            decision = Decision(result.outcome, result.reasons, result.assurance_level)
            await self._db(
                lambda: collect.record_outcome(
                    self.store,
                    document_key=key,
                    facility=caller.facility,
                    terminal_id=caller.terminal_id,
                    decision=decision,
                    face_mismatch=face_mismatch,
                    now=now,
                    policy=self.config.policy,
                )
            )
        event = AuditEvent(
            verification_id=result.verification_id,
            at=now,
            decision=result.outcome.value,
            facility=caller.facility,
            terminal_id=caller.terminal_id,
            reasons=result.reasons,
            assurance_level=result.assurance_level.value if result.assurance_level else None,
            document_number=cccd,
            operator=operator,
            face_distance=result.face_distance,
            face_threshold=result.face_threshold,
        )
        await self._db(append_event, self.store, event, self.audit_key)
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
            )
            attestation = sign_attestation(claims, self.attestation_key)
        if cccd is not None:
            self._remember(
                result.verification_id,
                _Session(
                    cccd,
                    caller.terminal_id,
                    identity_ok,
                    result.outcome,
                    tuple(r.code for r in result.reasons),
                    chip_image,
                    now,
                    holder,
                ),
            )
        timings = [*result.timings, ("record", (time.perf_counter() - start) * 1000)]
        final = dataclasses.replace(result, attestation=attestation, timings=timings)
        if self.metrics is not None:
            self.metrics.observe_decision(final)
        return final

    def _remember(self, vid: str, session: _Session) -> None:
        self._sessions[vid] = session
        while len(self._sessions) > 10_000:
            self._sessions.popitem(last=False)

    def _session(self, vid: str, caller: Caller) -> _Session:
        session = self._sessions.get(vid)
        if session is None or self.clock() - session.at > SESSION_TTL:
            raise NotFound("no recent verification with this id")
        if session.terminal_id != caller.terminal_id:
            raise FailedPrecondition("the verification was made at another terminal")
        return session

    # --- CounterService -------------------------------------------------------------------

    async def enroll(
        self,
        caller: Caller,
        verification_id: str,
        frames: Sequence[tuple[bytes, int]],
        *,
        timeout: float | None = None,
    ) -> str:
        session = self._session(verification_id, caller)
        if not session.identity_ok or session.chip_image is None:
            raise FailedPrecondition("enrolment needs a chip verification whose identity checks passed")
        async with self.pool.slot(check_kind(len(frames), enrol=True)):
            outcome = await self.pool.run(
                FaceJob(frames=tuple(frames), now_ms=0, chip_image=session.chip_image, enrol=True),
                timeout=self._face_limit(timeout),
            )
        if outcome.capture_failure or outcome.template is None:
            raise InvalidRequest([("frames", f"capture unusable: {outcome.capture_failure}")])
        threshold = outcome.threshold if outcome.threshold is not None else self.config.face.match_threshold
        if outcome.chip_distance is None or outcome.chip_distance > threshold:
            raise FailedPrecondition("the enrolment frames do not match the verified chip photo")
        parsed = template_from_bytes(outcome.template)
        now = self.clock()
        await self._db(
            self.store.put_face_template,
            session.cccd_number,
            outcome.template,
            parsed.model.name,
            parsed.model.version,
            now,
        )
        await self._db(
            append_event,
            self.store,
            AuditEvent(
                uuid.uuid4().hex,
                now,
                "ENROLLED",
                caller.facility,
                caller.terminal_id,
                action="enrol",
                document_number=session.cccd_number,
            ),
            self.audit_key,
        )
        return hashlib.sha256(f"{session.cccd_number}:{now.isoformat()}".encode()).hexdigest()[:24]

    async def link(self, caller: Caller, cccd: str, bhxh: str, verification_id: str) -> Entitlement | None:
        session = self._session(verification_id, caller)
        if session.cccd_number != cccd:
            raise FailedPrecondition("the verification was for another CCCD")
        if not session.identity_ok or session.chip_image is None:
            raise FailedPrecondition("linking needs a chip verification whose identity checks passed")
        # The BHXH number's card must belong to the person the chip proved: otherwise a counter
        # could point one citizen's CCCD at another citizen's cover.
        name, dob = session.holder
        for ent in await self._db(self.store.entitlements_by_bhxh, bhxh):
            check = check_entitlement(ent, self.clock().date(), name=name, dob=dob)
            if check.ma_ket_qua.value in ("060", "061", "070", "080"):
                raise FailedPrecondition("the social-insurance number's card names another person")
        now = self.clock()
        await self._db(self.store.link_cccd, cccd, bhxh, caller.terminal_id, now)
        await self._db(
            append_event,
            self.store,
            AuditEvent(
                uuid.uuid4().hex,
                now,
                "LINKED",
                caller.facility,
                caller.terminal_id,
                action="link",
                document_number=cccd,
            ),
            self.audit_key,
        )
        found = await self._db(self.store.entitlements_by_bhxh, bhxh)
        return found[0] if found else None

    async def report_lost(
        self, caller: Caller, cccd: str, document_number: str, reason: str, reporter: str
    ) -> str:
        now = self.clock()
        # Keyed by the person's CCCD number; which cards it blocks is decided at check time by
        # their issue date (see _fraud_signals). The DG1 document number of a CCCD is the last nine
        # digits of the CCCD number, so it cannot tell a replacement card from the lost one.
        del document_number
        key = document_key(self.audit_key, cccd)
        await self._db(self.store.report_lost, key, reason, reporter, now)
        report_id = uuid.uuid4().hex
        await self._db(
            append_event,
            self.store,
            AuditEvent(
                report_id,
                now,
                f"REPORTED_{reason.upper()}",
                caller.facility,
                caller.terminal_id,
                action="report_lost",
                document_number=cccd,
                operator=reporter,
            ),
            self.audit_key,
        )
        return report_id

    # --- AdminService ---------------------------------------------------------------------

    async def load_trust(
        self, cscas: Sequence[bytes], master_lists: Sequence[bytes], crls: Sequence[bytes]
    ) -> tuple[int, int, int]:
        try:
            added, crls_added = await asyncio.to_thread(self.trust.add, cscas, master_lists, crls)
        except ChipError as exc:
            raise InvalidRequest([("trust", f"{exc.message} [{exc.reason}]")]) from exc
        return added, crls_added, self.trust.csca_total

    async def import_entitlements(
        self, content: bytes, fmt: str, *, dry_run: bool
    ) -> tuple[int, int, list[Any]]:
        records, errors = await asyncio.to_thread(parse_entitlements, content, fmt)
        if errors or dry_run:
            return 0, len(records), list(errors)
        imported = await self._db(self.store.upsert_entitlements, records)
        return imported, len(records), []

    async def verify_audit(self) -> tuple[bool, int, int | None, str]:
        def run() -> tuple[bool, int, int | None, str]:
            report = verify_chain(self.store.iter_audit())
            return report.ok, report.checked, report.first_broken_index, report.reason

        return await asyncio.to_thread(run)

    def jwks(self) -> str:
        return jwks_json([self.attestation_key.public_key()])

"""Where a verification is decided. The flow, in order, stopping at the first hard failure so that
forged or replayed requests cost almost nothing (no face work for a chip that fails Passive
Authentication):

1. admission: a face-worker slot is reserved first, so an overloaded gateway refuses with
   RESOURCE_EXHAUSTED *before* it consumes the caller's challenge;
2. the single-use challenge, consumed atomically in the database (any replica may have issued it);
3. the terminal's device signature over the capture, where the terminal has a registered key;
4. the credential, by kind (`service.credentials`): chip (Passive + Active Authentication, expiry)
   or a QR that selects an enrolled template;
5. under the document's lock (held across replicas): lost/stolen and biometric-lock status;
6. the face in a worker process: capture gate, liveness, comparison; replayed frames, exact and
   near-duplicate, checked against every replica's;
7. the BHYT entitlement on today's date;
8. `policy.decide`, then the recorder (fraud ledger, audit record, attestation).

No protobuf here: the servicer translates. State lives behind the ports in `service.state`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bhytgate.api.signing import frames_signing_payload
from bhytgate.audit.chain import document_key
from bhytgate.entitlement.validity import holder_card
from bhytgate.face.liveness import FrameFingerprint, issue_challenge, load_device_key, verify_device_signature
from bhytgate.policy import collect
from bhytgate.policy.model import (
    AssuranceLevel,
    DocumentSource,
    FraudSignals,
    Outcome,
    Reason,
)
from bhytgate.policy.retry import hint as retry_hint
from bhytgate.policy.retry import is_retry
from bhytgate.policy.rules import decide
from bhytgate.service import reasons as vocab
from bhytgate.service.config import GatewayConfig
from bhytgate.service.credentials import REGISTRY, CredentialContext, Evidence, Rejected
from bhytgate.service.findings import check_results
from bhytgate.service.guardian import decide_for_child
from bhytgate.service.model import (
    CHECKS,
    BeginResult,
    Caller,
    InvalidRequest,
    Unavailable,
    VerifyInput,
    VerifyResult,
    db,
)
from bhytgate.service.recorder import Recorder, RecordExtras
from bhytgate.service.review import review_extras
from bhytgate.service.state import DocumentLock, RateLimiter, SharedFrameMemory, TerminalKeys
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.workers import FaceJob, FaceOutcome, FacePool, FaceUnavailable, LivenessSpec, check_kind
from bhytgate.storage.interface import ChallengeProblem, ChallengeRecord
from bhytgate.storage.sql import SqlStore

AA_DOMAIN = b"bhytgate.v1.aa-challenge\n"


def derive_aa_challenge(nonce: bytes) -> bytes:
    """The 32-byte Active Authentication challenge is bound to the nonce (and so to the capture)."""
    return hashlib.sha256(AA_DOMAIN + nonce).digest()


class Timings:
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


@dataclasses.dataclass(slots=True)
class Attempt:
    """One Verify call once its challenge is spent: what its record needs if the caller hangs up."""

    vid: str
    now: dt.datetime
    timings: Timings
    checks: dict[str, str]
    challenge_id: str
    cccd: str | None = None
    doc_key: str | None = None
    qr: bool = False  # the document came from a QR: a rejection is counted under its own key

    def result(self, outcome: Outcome, reasons: list[Reason], **kw: Any) -> VerifyResult:
        return VerifyResult(
            verification_id=self.vid,
            outcome=outcome,
            reasons=reasons,
            assurance_level=kw.get("level") if outcome in (Outcome.ACCEPTED, Outcome.REVIEW) else None,
            face_distance=kw.get("distance"),
            face_threshold=kw.get("threshold"),
            timings=self.timings.stages,
            entitlement=kw.get("entitlement"),
            entitlement_check=kw.get("ent_check"),
            attestation=None,
            checks=self.checks,
            verify_time=self.now,
            retry_hint=retry_hint(reasons) if outcome is Outcome.RETRY else None,
        )

    def extras(self, **kw: Any) -> RecordExtras:
        return RecordExtras(
            cccd=self.cccd, doc_key=self.doc_key, challenge_id=self.challenge_id, qr=self.qr, **kw
        )


class VerificationFlow:
    def __init__(
        self,
        config: GatewayConfig,
        store: SqlStore,
        trust: TrustAnchors,
        pool: FacePool,
        recorder: Recorder,
        *,
        doc_lock: DocumentLock,
        frames: SharedFrameMemory,
        rate: RateLimiter,
        terminal_keys: TerminalKeys,
        audit_key: bytes,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.trust = trust
        self.pool = pool
        self.recorder = recorder
        self.doc_lock = doc_lock
        self.frames = frames
        self.rate = rate
        self.terminal_keys = terminal_keys
        self.audit_key = audit_key
        self.clock = clock
        self._begins = 0

    # --- BeginVerification ----------------------------------------------------------------

    async def begin(self, caller: Caller) -> BeginResult:
        liveness = self.config.policy.liveness_required.get(caller.kind, True)
        refusal = self.pool.refuse_early(check_kind(2 if liveness else 1))
        if refusal is not None:
            raise refusal  # before the terminal's rate is taken or a challenge issued
        now = self.clock()
        live = self.config.face.liveness
        if liveness:
            challenge = issue_challenge(int(now.timestamp() * 1000), live)
            nonce, actions = challenge.nonce, tuple(a.value for a in challenge.actions)
        else:
            nonce, actions = secrets.token_bytes(32), ()
        ttl = self.config.challenge_ttl
        if actions:
            ttl = max(ttl, dt.timedelta(milliseconds=live.window_ms))
        record = ChallengeRecord(
            challenge_id=uuid.uuid4().hex,
            terminal_id=caller.terminal_id,
            nonce=nonce,
            aa_challenge=derive_aa_challenge(nonce),
            actions=actions,
            issued_at=now,
            expires_at=now + ttl,
            facility=caller.facility,
        )
        # One trip to the database threads for both writes (the rate, then the challenge): under
        # load each trip waits for a free thread behind the checks' records, and the latency of
        # every call shed at its Verify includes its Begin. Terminal ids repeat across facilities.
        await db(self._take_and_issue, f"{caller.facility}/{caller.terminal_id}", record)
        self._begins += 1
        if self._begins % 500 == 0:
            await db(self.store.purge_challenges, now - dt.timedelta(hours=1))
        level = self.config.policy.min_assurance.get(caller.kind, AssuranceLevel.CHIP_AA_FACE_LIVENESS)
        return BeginResult(
            record.challenge_id, nonce, record.aa_challenge, actions, record.expires_at, caller.kind, level
        )

    def _take_and_issue(self, rate_key: str, record: ChallengeRecord) -> None:
        """The terminal's Begin rate first (RateLimited issues nothing), then the challenge."""
        self.rate.take(rate_key)
        self.store.issue_challenge(record)

    # --- Verify ---------------------------------------------------------------------------

    def face_limit(self, timeout: float | None) -> float:
        """Without a caller deadline the face work is still bounded: a job that runs away is
        abandoned (its worker stays counted by admission until it really ends)."""
        cap = self.config.max_check_seconds
        return cap if timeout is None else min(timeout, cap)

    async def verify(self, caller: Caller, inp: VerifyInput, *, timeout: float | None = None) -> VerifyResult:
        limit = self.face_limit(timeout)
        async with self.pool.slot(check_kind(len(inp.frames)), deadline_s=limit):  # 1. admission
            return await self._verify(caller, inp, limit)

    async def _finish(
        self, caller: Caller, inp: VerifyInput, result: VerifyResult, extra: RecordExtras
    ) -> VerifyResult:
        return await self.recorder.finish(caller, inp, result, extra)

    async def _verify(self, caller: Caller, inp: VerifyInput, timeout: float) -> VerifyResult:
        vid = uuid.uuid4().hex
        now = self.clock()
        attempt = Attempt(vid, now, Timings(), dict.fromkeys(CHECKS, "SKIPPED"), inp.challenge_id)
        with attempt.timings.stage("challenge"):  # 2. the challenge
            consumed = await db(
                functools.partial(self.store.consume_challenge, facility=caller.facility),
                inp.challenge_id,
                caller.terminal_id,
                now,
            )
        try:
            if isinstance(consumed, ChallengeProblem):
                attempt.checks["CHALLENGE"] = "FAILED"
                code, detail = vocab.CHALLENGE_REASONS[consumed]
                # Nothing was spent by this call: its record accounts for no challenge.
                extra = dataclasses.replace(attempt.extras(), challenge_id=None)
                return await self._finish(
                    caller, inp, attempt.result(Outcome.REJECTED, [Reason(code, detail)]), extra
                )
            try:
                return await self._verify_spent(caller, inp, attempt, consumed, timeout)
            except asyncio.CancelledError:
                # The caller hung up (or the server is stopping) after the challenge was spent: the
                # attempt must not vanish from the audit log.
                await self._record_abandoned(caller, inp, attempt, "caller cancelled")
                raise
            except Unavailable as exc:
                # A dependency failed after the challenge was spent (a read, the document lock): the
                # record now if the database lets us, else the orphan sweep writes it.
                await self._record_abandoned(caller, inp, attempt, str(exc))
                raise
        finally:
            self.recorder.finishing.discard(vid)

    async def _record_abandoned(
        self,
        caller: Caller,
        inp: VerifyInput,
        attempt: Attempt,
        why: str,
        outcome: Outcome = Outcome.REJECTED,
    ) -> None:
        if attempt.vid in self.recorder.finishing:
            return  # its record is already being written
        reason = Reason("INTERNAL_CHECK_UNAVAILABLE", f"check not completed: {why}")
        await self._finish(caller, inp, attempt.result(outcome, [reason]), attempt.extras())

    async def _verify_spent(
        self, caller: Caller, inp: VerifyInput, attempt: Attempt, challenge: ChallengeRecord, timeout: float
    ) -> VerifyResult:
        checks = attempt.checks
        checks["CHALLENGE"] = "PASSED"
        # 3. the terminal's device signature
        problem = await db(self._terminal_signature_problem, inp, challenge, caller.facility)
        if problem is not None:
            checks["TERMINAL_SIGNATURE"] = "FAILED"
            return await self._finish(
                caller, inp, attempt.result(Outcome.REJECTED, [problem]), attempt.extras()
            )
        if inp.terminal_signature is not None:
            checks["TERMINAL_SIGNATURE"] = "PASSED"
        # 4. the credential
        verifier = REGISTRY[inp.credential_kind]
        ctx = CredentialContext(self.config, self.store, self.trust, challenge, attempt.now, checks)
        with attempt.timings.stage(verifier.kind):
            found = await db(verifier.verify, inp, ctx)
        if isinstance(found, Rejected):
            attempt.cccd = found.cccd
            # A read cut short (no or an unreadable AA answer) is asked again, not refused.
            retry = is_retry(found.reasons) and not found.violations
            outcome = Outcome.RETRY if retry else Outcome.REJECTED
            result = await self._finish(caller, inp, attempt.result(outcome, found.reasons), attempt.extras())
            if found.violations:
                raise InvalidRequest(found.violations)
            return result
        # 5-8 run one at a time per document (the fraud rules read, then record, its history)
        attempt.cccd = found.cccd
        attempt.doc_key = document_key(self.audit_key, found.cccd)
        attempt.qr = found.source is DocumentSource.QR
        async with self.doc_lock.hold(attempt.doc_key):
            try:
                if inp.guardian is not None:
                    return await decide_for_child(self, caller, inp, attempt, found)
                return await self._decide(caller, inp, attempt, challenge, found, timeout)
            except (asyncio.CancelledError, Unavailable) as exc:
                # Recorded while the document is still locked: the next check of this card must
                # see this attempt in its history.
                why = "caller cancelled" if isinstance(exc, asyncio.CancelledError) else str(exc)
                await self._record_abandoned(caller, inp, attempt, why)
                raise

    async def _decide(
        self,
        caller: Caller,
        inp: VerifyInput,
        attempt: Attempt,
        challenge: ChallengeRecord,
        ev: Evidence,
        timeout: float,
    ) -> VerifyResult:
        checks, now, t = attempt.checks, attempt.now, attempt.timings
        assert attempt.doc_key is not None

        # 5. lost/stolen and locks, before any face work
        with t.stage("fraud_signals"):
            fraud = await db(self._fraud_signals, attempt.doc_key, ev.issue_date, caller, now, attempt.qr)
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
            return await self._finish(caller, inp, attempt.result(Outcome.REJECTED, early), attempt.extras())

        # 6. the face, in a worker process
        liveness = None
        issued_ms = int(challenge.issued_at.timestamp() * 1000)
        if challenge.actions:
            # The actions must be performed within the liveness window, however long the challenge
            # itself stays valid for the chip and the upload.
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
                return await self._finish(
                    caller, inp, attempt.result(Outcome.REJECTED, [stale]), attempt.extras()
                )
        job = FaceJob(
            frames=tuple(inp.frames),
            now_ms=int(now.timestamp() * 1000),
            chip_image=ev.chip_image,
            template=ev.template,
            liveness=liveness,
        )
        with t.stage("face"):
            try:
                face = await self.pool.run(job, timeout=timeout)
            except (TimeoutError, FaceUnavailable) as exc:
                # The challenge is used up: leave a record of the attempt before reporting. A
                # worker restarting says nothing about the person: RETRY, outside the fraud rules.
                outcome = Outcome.RETRY if isinstance(exc, FaceUnavailable) else Outcome.REJECTED
                await self._record_abandoned(
                    caller, inp, attempt, f"face check: {type(exc).__name__}", outcome
                )
                raise
        for stage, millis in face.timings.items():
            t.add(f"face.{stage}", millis)
        with t.stage("replay"):
            replay = await db(self._replayed, inp.frames, face, now)

        # 7. the entitlement
        with t.stage("entitlement"):
            entitlements = await db(self.store.entitlements_by_cccd, ev.cccd)
        entitlement, ent_check = holder_card(entitlements, ev.cccd, now.date(), ev.name, ev.dob)

        # 8. decide, then record
        results = check_results(self.config, ev, face, liveness, replay, ent_check, inp)
        decision = decide(results, fraud, caller.kind, self.config.policy)
        reasons = vocab.refine(decision.reasons, face, replay, ent_check)
        outcome = decision.outcome
        if outcome is Outcome.ACCEPTED and ent_check is not None and ent_check.needs_review:
            outcome = Outcome.REVIEW
            reasons = [
                Reason("CARD_MANAGED_ELSEWHERE", f"maKetQua {ent_check.ma_ket_qua.value}: check papers")
            ]
        vocab.fill_checks(checks, results, reasons, fraud)
        accepted = outcome is Outcome.ACCEPTED
        result = attempt.result(
            outcome,
            reasons,
            level=decision.assurance_level,
            distance=face.template_distance if ev.source is DocumentSource.QR else face.chip_distance,
            threshold=face.threshold,
            entitlement=entitlement if accepted else None,
            ent_check=ent_check if accepted else None,
        )
        extra = attempt.extras(
            **review_extras(
                outcome,
                entitlement.card_number if entitlement is not None else None,
                fraud,
                attempt.doc_key,
                caller.terminal_id,
                ent_check.ma_ket_qua.value if ent_check is not None else None,
                self.config.policy,
            ),
            face_mismatch=any(r.code in ("FACE_MISMATCH", "TEMPLATE_MISMATCH") for r in reasons),
            chip_image=ev.chip_image,
            identity_ok=vocab.identity_ok(reasons),
            holder=(ev.name, ev.dob) if ev.source is DocumentSource.CHIP else (None, None),
        )
        return await self._finish(caller, inp, result, extra)

    # --- steps ------------------------------------------------------------------------------

    def _terminal_signature_problem(
        self, inp: VerifyInput, challenge: ChallengeRecord, facility: str
    ) -> Reason | None:
        """Where a terminal has a registered device key, its signature over the capture is required.
        The key is the one of this terminal id *at this facility* (the caller's certificate)."""
        registered = self.terminal_keys.get(challenge.terminal_id, facility)
        if inp.terminal_signature is None:
            if registered is not None:
                return Reason("TERMINAL_SIGNATURE_INVALID", "terminal has a device key but sent no signature")
            return None
        signature, key_id = inp.terminal_signature
        if not key_id or key_id != challenge.terminal_id or registered is None:
            return Reason("TERMINAL_SIGNATURE_INVALID", "unknown terminal key")
        try:
            key = load_device_key(registered.encode("ascii"))
            payload = frames_signing_payload(challenge.nonce, inp.frames)
        except ValueError:
            return Reason("TERMINAL_SIGNATURE_INVALID", "terminal key or frames unusable for a signature")
        if not verify_device_signature(key, signature, payload):
            return Reason("TERMINAL_SIGNATURE_INVALID", "terminal signature does not verify")
        return None

    def _fraud_signals(
        self, doc_key: str, issue_date: dt.date | None, caller: Caller, now: dt.datetime, qr: bool = False
    ) -> FraudSignals:
        signals = collect.collect_fraud_signals(
            self.store,
            document_key=doc_key,
            facility=caller.facility,
            terminal_id=caller.terminal_id,
            now=now,
            policy=self.config.policy,
            qr=qr,
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

    def _replayed(
        self, frames: Sequence[tuple[bytes, int]], face: FaceOutcome, now: dt.datetime
    ) -> Reason | None:
        """Frames seen in an earlier check on any replica: exact bytes, or near-duplicates."""
        digests = [hashlib.sha256(image).digest() for image, _ in frames]
        seen = self.store.add_frame_hashes(digests, now)
        if seen:
            return Reason("FRAMES_REPLAYED", f"{len(seen)} frame(s) identical to an earlier check")
        fingerprints = [FrameFingerprint(sha, phash) for sha, phash in face.fingerprints]
        if fingerprints and self.frames.check_and_remember(
            fingerprints, now, self.config.face.liveness.replay_max_hamming
        ):
            return Reason("FRAMES_REPLAYED", "frame(s) nearly identical to an earlier check")
        return None

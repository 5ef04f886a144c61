"""The verification flow with in-process ports: an embedded SQLite store, the in-process document
lock, and a face pool whose job is a plain function (no models). Milliseconds per test."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.entitlement.model import Entitlement
from bhytgate.face import FaceConfig
from bhytgate.policy.model import Outcome, Reason, ReasonCode, TerminalKind
from bhytgate.service.config import GatewayConfig
from bhytgate.service.gateway import Gateway
from bhytgate.service.model import Caller, Operator, Unavailable, VerifyInput
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.workers import FaceJob, FaceOutcome, FacePool
from bhytgate.storage import SqliteStore, StoreUnavailable

CCCD = "001090000999"
QR = f"{CCCD}||Ai Đó|01011990|Nam|Hà Nội|01012021"
DESK = Caller("desk-x", "01001", "hospital-checkin", TerminalKind.DESK)
OPERATOR = Operator("Lê Thu Hà", "001185000123")


class FunctionPool(FacePool):
    """Admission as in production; the face job is `outcome(job)`, run inline."""

    def __init__(self, outcome: Any) -> None:
        super().__init__(FaceConfig(), workers=1, queue_limit=4)
        self.outcome = outcome

    async def start(self) -> list[int]:
        return []

    async def run(self, job: FaceJob, *, timeout: float | None = None) -> FaceOutcome:
        result: FaceOutcome = self.outcome(job)
        return result

    async def close(self) -> None:
        return None


def matched(job: FaceJob) -> FaceOutcome:
    digest = hashlib.sha256(job.frames[0][0]).digest()
    return FaceOutcome(template_distance=0.3, threshold=0.5, fingerprints=((digest, bytes(range(32))),))


def entitlement() -> Entitlement:
    return Entitlement(
        card_number="DN4010123456789",
        social_insurance_number="0123456789",
        cccd_number=CCCD,
        full_name="Ai Đó",
        date_of_birth="01/01/1990",
        sex="Nam",
        address="Hà Nội",
        beneficiary_group="DN",
        benefit_code=4,
        province_code="01",
        registered_facility="01001",
        registered_facility_name="BV Bạch Mai",
        issuing_office="BHXH Hà Nội",
        valid_from=dt.date(2020, 1, 1),
        valid_to=dt.date(2099, 12, 31),
        five_year_date=dt.date(2020, 1, 1),
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    store = SqliteStore(tmp_path / "g.db", template_key=b"t" * 32)
    store.upsert_entitlements([entitlement()])
    store.put_face_template(CCCD, b"any template bytes", "m", "1", dt.datetime.now(dt.UTC))
    config = GatewayConfig(home=tmp_path, max_check_seconds=2, orphan_grace_s=0)
    return Gateway(
        config,
        store,
        TrustAnchors(store),
        FunctionPool(matched),
        attestation_key=ec.generate_private_key(ec.SECP256R1()),
        audit_key=b"a" * 32,
    )


def qr_check(gw: Gateway, image: bytes = b"frame-1") -> Any:
    async def run() -> Any:
        challenge = await gw.begin(DESK)
        ts = int(dt.datetime.now(dt.UTC).timestamp() * 1000)  # captured after the Begin
        inp = VerifyInput(challenge.challenge_id, [(image, ts)], qr=("cccd", QR), operator=OPERATOR)
        return challenge, await gw.verify(DESK, inp)

    return asyncio.run(run())


def test_qr_check_accepted_and_recorded_once(gateway: Gateway) -> None:
    _, result = qr_check(gateway)
    assert result.outcome is Outcome.ACCEPTED, result.reasons
    assert result.attestation is not None
    assert gateway.store.audit_record_exists(result.verification_id)
    assert gateway.store.unrecorded_challenges(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == []
    # the counter session is in the database
    assert gateway.sessions.get(result.verification_id, dt.datetime.now(dt.UTC)) is not None


def test_the_same_frame_twice_is_a_replay(gateway: Gateway) -> None:
    assert qr_check(gateway, b"same")[1].outcome is Outcome.ACCEPTED
    again = qr_check(gateway, b"same")[1]
    assert [r.code for r in again.reasons] == ["FRAMES_REPLAYED"]


def test_a_record_that_cannot_be_written_releases_nothing_and_is_swept_later(gateway: Gateway) -> None:
    store = gateway.store
    real = store.append_audit
    calls = {"n": 0}

    def down(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        raise StoreUnavailable("database unreachable")

    store.append_audit = down  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        qr_check(gateway)
    assert calls["n"] == 1
    store.append_audit = real  # type: ignore[method-assign]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert len(store.unrecorded_challenges(later)) == 1
    assert gateway.recorder.sweep_orphans(later) == 1
    assert gateway.recorder.sweep_orphans(later) == 0  # exactly once
    assert store.unrecorded_challenges(later) == []


def test_a_swept_check_is_not_released_when_it_finishes_late(gateway: Gateway) -> None:
    """The sweep took the challenge for abandoned; the late original must not be released."""
    original = gateway.recorder._record

    def sweep_first(*args: Any) -> Any:
        gateway.recorder.sweep_orphans(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
        return original(*args)

    gateway.recorder._record = sweep_first  # type: ignore[method-assign]
    with pytest.raises(Unavailable, match="recorded as not completed"):
        qr_check(gateway)


def test_a_template_that_fails_integrity_is_a_recorded_rejection(gateway: Gateway, tmp_path: Path) -> None:
    gateway.store.use_template_key(b"x" * 32)  # the stored template no longer authenticates
    _, result = qr_check(gateway)
    assert [r.code for r in result.reasons] == ["INTERNAL_CHECK_UNAVAILABLE"]
    assert result.outcome is Outcome.REJECTED  # a security event, never a RETRY
    assert gateway.store.audit_record_exists(result.verification_id)


def test_a_face_worker_restarting_is_a_recorded_retry_outside_the_fraud_rules(gateway: Gateway) -> None:
    from bhytgate.service.workers import FaceUnavailable

    def restarting(job: FaceJob) -> FaceOutcome:
        raise FaceUnavailable("face worker restarting")

    gateway.flow.pool = FunctionPool(restarting)
    with pytest.raises(FaceUnavailable):
        qr_check(gateway)
    bodies = [e.body for e in gateway.store.iter_audit()]
    assert len(bodies) == 1 and '"decision":"RETRY"' in bodies[0], bodies
    assert (
        gateway.store.terminal_recent_decisions(DESK.facility, DESK.terminal_id, 50) == {}
    )  # no fraud event
    gateway.flow.pool = FunctionPool(matched)
    assert qr_check(gateway)[1].outcome is Outcome.ACCEPTED


def test_a_review_opens_a_case_that_a_reviewer_accepts(gateway: Gateway) -> None:
    """The velocity rule at a second facility: REVIEW, a case, an accepted resolution releasing
    the entitlement with an attestation naming the reviewer."""
    from bhytgate.service.review import Resolution

    assert qr_check(gateway)[1].outcome is Outcome.ACCEPTED
    other = Caller("desk-y", "79014", "hospital-checkin", TerminalKind.DESK)

    async def second() -> Any:
        challenge = await gateway.begin(other)
        ts = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        inp = VerifyInput(challenge.challenge_id, [(b"frame-2", ts)], qr=("cccd", QR), operator=OPERATOR)
        return await gateway.verify(other, inp)

    def distinct(job: FaceJob) -> FaceOutcome:  # another frame: another perceptual hash
        digest = hashlib.sha256(job.frames[0][0]).digest()
        return FaceOutcome(template_distance=0.3, threshold=0.5, fingerprints=((digest, digest),))

    gateway.flow.pool = FunctionPool(distinct)
    review = asyncio.run(second())
    assert review.outcome is Outcome.REVIEW, review.reasons
    assert review.review_expires is not None
    reviewer = Caller("rev-1", "79014", "reviewer", TerminalKind.DESK)
    cases = asyncio.run(gateway.reviews.list_open(reviewer, 10))
    assert [c.verification_id for c in cases] == [review.verification_id]
    done: Resolution = asyncio.run(
        gateway.reviews.resolve(reviewer, review.verification_id, accept=True, reason="ok")
    )
    assert done.state == "ACCEPTED" and done.entitlement is not None and done.attestation
    polled = asyncio.run(gateway.reviews.get(other, review.verification_id))
    assert polled.state == "ACCEPTED" and polled.attestation == done.attestation


def test_reason_vocabulary_is_the_proto_enum() -> None:
    from bhytgate.api.v1 import gateway_pb2 as pb

    wire = {c.wire_name for c in ReasonCode}
    proto = set(pb.ReasonCode.keys()) - {"REASON_CODE_UNSPECIFIED"}
    assert wire == proto
    with pytest.raises(ValueError, match="unknown reason code"):
        Reason("NOT_A_CODE", "x")

"""Remote registration end to end over a real gRPC server (mTLS, face workers, SQLite): a phone
proves the holder with the normal strongest check, then registers with a valid, a forged, a stale,
a mis-bound and a missing integrity token; re-registration strength; the per-CCCD and per-device
attempt limits; refusals."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.audit.chain import document_key
from bhytgate.registration.model import Status
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import live_photos as lab_photos
from bhytgate_clients.cli.checkin import read_chip_files
from bhytgate_clients.sdk import GatewayError, VerificationResult
from bhytgate_clients.sdk.results import Challenge

from .conftest import CCCD_ATTEMPTS, DEVICE_ATTEMPTS, RegistrationDeployment
from .platform_lab import jws, verdict

PHONE = "+84912345678"


def live_photos(d: RegistrationDeployment, card: Path) -> list[Path]:
    return lab_photos(d.faces, card)


def verify_on_phone(
    d: RegistrationDeployment, terminal: str, identity: str, *, aa: bool = True, face_of: str | None = None
) -> tuple[Challenge, VerificationResult]:
    """BeginVerification + Verify as a phone: chip PA + AA over the challenge, head-turn liveness
    (`face_of`: someone else in front of the camera)."""
    card = d.card(identity)
    camera = SimulatedCamera(live_photos(d, d.card(face_of or identity)))
    chip = SimulatedChip.from_dump(card)
    with d.client(terminal) as phone:
        challenge = phone.begin(terminal_kind="phone")
        frames = camera.burst(
            challenge.liveness_actions, start_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        )
        result = phone.verify(
            challenge,
            chip_files=read_chip_files(card),
            aa_signatures=chip.answer_challenge(challenge.aa_challenge) if aa else None,
            frames=frames,
        )
    return challenge, result


def register(d: RegistrationDeployment, terminal: str, vid: str, **kw: str) -> pb.RegisterHolderResponse:
    with d.client(terminal) as phone:
        return phone.register_holder(vid, **kw)


def refused(d: RegistrationDeployment, terminal: str, vid: str, **kw: str) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        register(d, terminal, vid, **kw)
    return err.value


def codes(response: pb.RegisterHolderResponse) -> list[str]:
    return [pb.ReasonCode.Name(r.code).removeprefix("REASON_CODE_") for r in response.reasons]


def card_facts(d: RegistrationDeployment, identity: str) -> tuple[str, str]:
    ent = json.loads((d.card(identity) / "entitlement.json").read_text(encoding="utf-8"))
    return ent["cccd_number"], ent["social_insurance_number"]


def audit_head(d: RegistrationDeployment) -> int:
    return d.running.gateway.store.audit_head()[0]


def test_valid_token_registers_at_once_and_re_registration_needs_the_same_strength(
    registration_gateway: RegistrationDeployment,
) -> None:
    d = registration_gateway
    store = d.running.gateway.store
    cccd, bhxh = card_facts(d, "sheldon")
    challenge, result = verify_on_phone(d, "reg-phone-a1", "sheldon")
    assert result.decision == "ACCEPTED", result.reasons
    assert result.assurance_level == "CHIP_AA_FACE_LIVENESS"
    before = audit_head(d)
    token = d.platform.token(challenge.nonce)
    response = register(d, "reg-phone-a1", result.verification_id, phone_e164=PHONE, integrity_token=token)
    assert response.decision == pb.DECISION_ACCEPTED and codes(response) == []
    reg = response.registration
    assert reg.status == pb.REGISTRATION_STATUS_ACTIVE
    assert reg.integrity_verdict == pb.INTEGRITY_VERDICT_VERIFIED
    assert reg.assurance_level == pb.ASSURANCE_LEVEL_CHIP_AA_FACE_LIVENESS
    assert reg.social_insurance_number == bhxh
    # linked at once: CCCD <-> BHXH <-> contact, no queue
    record = store.registration_in_force(cccd)
    assert record is not None and record.registration_id == reg.registration_id
    assert record.contact.value == PHONE and record.bhxh_number == bhxh
    link = store.linked_bhxh(cccd)
    assert link is not None and link.bhxh_number == bhxh
    # the attestation verifies with the gateway's published key; it names no number
    with d.client("reg-phone-a1") as phone:
        jwks = jwt.PyJWKSet.from_json(phone.attestation_keys())
    header = jwt.get_unverified_header(reg.attestation)
    assert header["typ"] == "bhytgate-registration+jwt"
    claims = jwt.decode(reg.attestation, jwks[header["kid"]].key, algorithms=["ES256"])
    assert claims["jti"] == reg.registration_id and claims["vid"] == result.verification_id
    assert claims["lvl"] == "chip_aa_face_liveness" and claims["integrity"] == "verified"
    assert cccd not in reg.attestation and bhxh not in json.dumps(claims)
    # audited in the same transaction, pseudonymised
    assert audit_head(d) == before + 1
    last = list(store.iter_audit(before))[-1]
    assert '"register"' in last.body and cccd not in last.body and PHONE not in last.body
    assert document_key(d.running.gateway.audit_key, cccd) in last.body
    # a verification is good for one attempt
    assert refused(
        d, "reg-phone-a1", result.verification_id, phone_e164=PHONE, integrity_token=token
    ).code == ("NOT_FOUND")

    # a re-registration without a token (policy: review) is weaker than the verified one in force
    _, second = verify_on_phone(d, "reg-phone-a1", "sheldon")
    weaker = register(d, "reg-phone-a1", second.verification_id, email="sheldon@example.vn")
    assert weaker.decision == pb.DECISION_REJECTED and codes(weaker) == ["REGISTRATION_WEAKER"]
    assert not weaker.HasField("registration")
    in_force = store.registration_in_force(cccd)
    assert in_force is not None and in_force.registration_id == reg.registration_id

    # the same strength from another device replaces it: still one registration in force
    challenge3, third = verify_on_phone(d, "reg-phone-a2", "sheldon")
    again = register(
        d,
        "reg-phone-a2",
        third.verification_id,
        email="sheldon@example.vn",
        integrity_token=d.platform.token(challenge3.nonce),
    )
    assert again.decision == pb.DECISION_ACCEPTED
    assert again.registration.supersedes_registration_id == reg.registration_id
    old = store.registration(reg.registration_id)
    assert old is not None and old.status is Status.SUPERSEDED
    now_in_force = store.registration_in_force(cccd)
    assert now_in_force is not None and now_in_force.registration_id == again.registration.registration_id
    assert now_in_force.contact.value == "sheldon@example.vn"

    # a verification the holder did not pass (another face) cannot register, and a verification is
    # usable only by the terminal that made it
    challenge4, low = verify_on_phone(d, "reg-phone-a2", "sheldon", face_of="howard")
    assert low.decision == "REJECTED" and "FACE_MISMATCH" in low.reason_codes
    err = refused(d, "reg-phone-c", low.verification_id, phone_e164=PHONE)
    assert err.code == "FAILED_PRECONDITION" and "another terminal" in err.message
    too_low = register(
        d,
        "reg-phone-a2",
        low.verification_id,
        phone_e164=PHONE,
        integrity_token=d.platform.token(challenge4.nonce),
    )
    assert too_low.decision == pb.DECISION_REJECTED and codes(too_low) == ["ASSURANCE_TOO_LOW"]

    # a verification that could never register takes none of the CCCD's attempts (attack run
    # 2026-12-03: another facility's rejected Verifies used up a holder's day): this is the 4th
    challenge5, fourth = verify_on_phone(d, "reg-phone-a2", "sheldon")
    token5 = d.platform.token(challenge5.nonce)
    ok = register(
        d, "reg-phone-a2", fourth.verification_id, email="sheldon@example.vn", integrity_token=token5
    )
    assert ok.decision == pb.DECISION_ACCEPTED, codes(ok)

    # the CCCD's attempts are limited across devices (4 a day here): the 5th is refused
    _, fifth = verify_on_phone(d, "reg-phone-a2", "sheldon")
    err = refused(d, "reg-phone-a2", fifth.verification_id, phone_e164=PHONE)
    assert err.code == "RESOURCE_EXHAUSTED", err
    assert f"limit of {CCCD_ATTEMPTS} attempts a day for this CCCD" in err.message
    assert err.retry_after is not None and 0 < err.retry_after <= 86400
    with d.client("admin-01") as admin:
        assert admin.verify_audit().ok


def test_forged_stale_and_mis_bound_tokens_are_rejected(registration_gateway: RegistrationDeployment) -> None:
    d = registration_gateway
    store = d.running.gateway.store
    cccd, _ = card_facts(d, "howard")
    attacker = ec.generate_private_key(ec.SECP256R1())

    first, result = verify_on_phone(d, "reg-phone-b", "howard")
    assert result.decision == "ACCEPTED", result.reasons
    before = audit_head(d)
    forged = jws(verdict(first.nonce), attacker)  # the platform's kid, someone else's key
    response = register(d, "reg-phone-b", result.verification_id, phone_e164=PHONE, integrity_token=forged)
    assert response.decision == pb.DECISION_REJECTED and codes(response) == ["INTEGRITY_TOKEN_INVALID"]
    assert not response.HasField("registration")
    assert audit_head(d) == before + 1  # the rejection is audited too

    challenge, result = verify_on_phone(d, "reg-phone-b", "howard")
    stale = d.platform.token(challenge.nonce, at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    response = register(d, "reg-phone-b", result.verification_id, phone_e164=PHONE, integrity_token=stale)
    assert codes(response) == ["INTEGRITY_TOKEN_STALE"] and response.decision == pb.DECISION_REJECTED

    # a genuine, fresh token obtained for the earlier challenge is no good for this one
    challenge, result = verify_on_phone(d, "reg-phone-b", "howard")
    replayed = d.platform.token(first.nonce)
    response = register(d, "reg-phone-b", result.verification_id, phone_e164=PHONE, integrity_token=replayed)
    assert codes(response) == ["INTEGRITY_NONCE_MISMATCH"]
    assert store.registration_in_force(cccd) is None


def test_missing_token_goes_to_review_by_policy(registration_gateway: RegistrationDeployment) -> None:
    d = registration_gateway
    store = d.running.gateway.store
    cccd, bhxh = card_facts(d, "howard")
    _, result = verify_on_phone(d, "reg-phone-c", "howard")
    assert result.decision == "ACCEPTED", result.reasons
    response = register(d, "reg-phone-c", result.verification_id, email="howard@example.vn")
    assert response.decision == pb.DECISION_REVIEW and codes(response) == ["INTEGRITY_TOKEN_MISSING"]
    assert response.registration.status == pb.REGISTRATION_STATUS_PENDING_REVIEW
    assert response.registration.integrity_verdict == pb.INTEGRITY_VERDICT_MISSING
    record = store.registration_in_force(cccd)
    assert record is not None and record.status is Status.PENDING_REVIEW and record.bhxh_number == bhxh
    assert store.linked_bhxh(cccd) is None  # not in force until a person has looked


def test_device_attempts_are_limited(registration_gateway: RegistrationDeployment) -> None:
    d = registration_gateway
    for _ in range(DEVICE_ATTEMPTS):
        assert refused(d, "reg-phone-limit", secrets.token_hex(16), phone_e164=PHONE).code == "NOT_FOUND"
    err = refused(d, "reg-phone-limit", secrets.token_hex(16), phone_e164=PHONE)
    assert err.code == "RESOURCE_EXHAUSTED"
    assert f"limit of {DEVICE_ATTEMPTS} attempts an hour for this terminal" in err.message
    assert err.retry_after is not None and 0 < err.retry_after <= 3600


@pytest.mark.parametrize(
    ("terminal", "kw", "code", "field"),
    [
        ("kiosk-01", {"phone_e164": PHONE}, "PERMISSION_DENIED", None),
        ("desk-01", {"phone_e164": PHONE}, "PERMISSION_DENIED", None),
        ("counter-01", {"phone_e164": PHONE}, "PERMISSION_DENIED", None),
        ("reg-phone-x", {}, "INVALID_ARGUMENT", "contact"),
        ("reg-phone-x", {"phone_e164": "+84 912 345 678"}, "INVALID_ARGUMENT", "phone_e164"),
        ("reg-phone-x", {"phone_e164": "0912345678"}, "INVALID_ARGUMENT", "phone_e164"),
        ("reg-phone-x", {"email": "an@localhost"}, "INVALID_ARGUMENT", "email"),
        ("reg-phone-x", {"email": "an@example.vn\n"}, "INVALID_ARGUMENT", "email"),
        (
            "reg-phone-x",
            {"phone_e164": PHONE, "integrity_token": "not a token"},
            "INVALID_ARGUMENT",
            "integrity_token",
        ),
        (
            "reg-phone-x",
            {"phone_e164": PHONE, "social_insurance_number": "01234"},
            "INVALID_ARGUMENT",
            "social_insurance_number",
        ),
    ],
)
def test_refusals(
    registration_gateway: RegistrationDeployment,
    terminal: str,
    kw: dict[str, str],
    code: str,
    field: str | None,
) -> None:
    before = audit_head(registration_gateway)
    err = refused(registration_gateway, terminal, secrets.token_hex(16), **kw)
    assert err.code == code, err
    if field is not None:
        assert [v.field for v in err.violations] == [field]
    assert audit_head(registration_gateway) == before

"""End to end over a real gRPC server on loopback with mTLS: the check-in flow and its attacks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.attestation import AttestationStatus, verify_attestation
from bhytgate.pki.devca import TerminalIdentity, write_dev_pki
from bhytgate.service.wire import RequestLimits
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import live_photos as lab_photos
from bhytgate_clients.cli.checkin import read_chip_files
from bhytgate_clients.sdk import Frame, GatewayClient, GatewayError, Operator, VerificationResult
from bhytgate_clients.sdk.results import Challenge

from .conftest import Deployment

OPERATOR = Operator("Lê Thu Hà", "001185000123")


def live_photos(d: Deployment, card: Path) -> list[Path]:
    return lab_photos(d.faces, card)


def check(
    d: Deployment,
    card: Path,
    *,
    terminal: str = "desk-01",
    kind: str = "desk",
    photos: list[Path] | None = None,
    aa: bool = True,
) -> VerificationResult:
    camera = SimulatedCamera(photos or live_photos(d, card))

    def capture(challenge: Challenge) -> list[Frame]:
        # the camera's clock is the gateway's (tests may shift the latter)
        now = int((dt.datetime.now(dt.UTC) + d.server.offset).timestamp() * 1000)
        if challenge.liveness_actions:
            return camera.burst(challenge.liveness_actions, start_ms=now)
        return camera.single(now)

    answer = SimulatedChip.from_dump(card).answer_challenge if aa else None
    with d.client(terminal) as client:
        return client.check_in(
            read_chip_files(card),
            capture,
            answer_challenge=answer,
            terminal_kind=kind,
            operator=OPERATOR if kind == "desk" else None,
        )


def test_holder_accepted_with_entitlement_and_verifiable_attestation(deployment: Deployment) -> None:
    card = deployment.card("obama")
    result = check(deployment, card)
    assert result.decision == "ACCEPTED", result.reasons
    assert result.assurance_level == "CHIP_FACE"  # a staffed desk: one frame, no liveness challenge
    assert result.face_distance is not None and result.face_threshold is not None
    assert result.face_distance <= result.face_threshold
    expected = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    ent = result.entitlement
    assert ent is not None
    assert ent["ma_the"] == expected["card_number"]
    assert ent["ho_ten"] == expected["full_name"]
    assert ent["ma_ket_qua"] == "000"
    assert ent["muc_huong"] == expected["benefit_code"]
    with deployment.client("desk-01") as client:
        jwks = client.attestation_keys()
    assert result.attestation is not None
    verdict = verify_attestation(result.attestation, jwks, dt.datetime.now(dt.UTC))
    assert verdict.status is AttestationStatus.OK, verdict
    claims = verdict.claims
    assert claims is not None and claims.verification_id == result.verification_id
    assert claims.facility == "01001" and claims.terminal_id == "desk-01"
    assert claims.card_number == expected["card_number"] and claims.assurance_level == "chip_face"
    # a tampered attestation does not verify
    head, payload, sig = result.attestation.split(".")
    forged = f"{head}.{payload[:-2]}AA.{sig}"
    assert verify_attestation(forged, jwks, dt.datetime.now(dt.UTC)).status is not AttestationStatus.OK


def test_kiosk_liveness_reaches_the_highest_assurance(deployment: Deployment) -> None:
    result = check(deployment, deployment.card("sheldon"), terminal="kiosk-01", kind="kiosk")
    assert result.decision == "ACCEPTED", result.reasons
    assert result.assurance_level == "CHIP_AA_FACE_LIVENESS"
    assert result.checks["LIVENESS"] == "PASSED" and result.checks["ACTIVE_AUTH"] == "PASSED"


def test_a_failed_challenge_is_reported_as_liveness_not_as_a_missing_check(deployment: Deployment) -> None:
    """The worker stops at a failed challenge before matching the face: the answer names the
    liveness failure alone (it once led with INTERNAL_CHECK_UNAVAILABLE for the missing match)."""
    d = deployment
    card = d.card("sheldon")
    camera = SimulatedCamera(live_photos(d, card))

    def capture(challenge: Challenge) -> list[Frame]:
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        return camera.burst(list(reversed(challenge.liveness_actions)), start_ms=now)

    with d.client("kiosk-01") as client:
        result = client.check_in(
            read_chip_files(card),
            capture,
            answer_challenge=SimulatedChip.from_dump(card).answer_challenge,
            terminal_kind="kiosk",
        )
    assert result.decision == "REJECTED"
    assert result.reason_codes == ["LIVENESS_FAILED"], result.reasons
    assert result.checks["LIVENESS"] == "FAILED"


def test_someone_elses_face_is_rejected(deployment: Deployment) -> None:
    biden = live_photos(deployment, deployment.card("biden"))
    result = check(deployment, deployment.card("howard"), photos=biden, terminal="clean-desk")
    assert result.decision == "REJECTED"
    assert result.reason_codes == ["FACE_MISMATCH"]
    assert result.entitlement is None and result.attestation is None


@pytest.mark.parametrize(("terminal", "kind"), [("kiosk-01", "kiosk"), ("lab-desk", "desk")])
def test_a_chip_that_can_answer_must_answer_at_every_terminal(
    deployment: Deployment, terminal: str, kind: str
) -> None:
    """EF.SOD lists DG15: without the Active Authentication answer a copy of the chip's data would
    pass wherever the proof is not asked for, so it is asked for everywhere. A missing answer from
    a chip that can give one is a read cut short: RETRY (hold the card still), never an acceptance."""
    result = check(deployment, deployment.card("howard"), terminal=terminal, kind=kind, aa=False)
    assert result.decision == "RETRY" and result.retry_hint == "HOLD_CARD_STILL"
    assert result.reason_codes == ["AA_MISSING"]
    assert result.entitlement is None and result.attestation is None
    assert result.checks["ACTIVE_AUTH"] == "FAILED"


def test_a_cloned_chip_cannot_skip_active_authentication(deployment: Deployment) -> None:
    card = deployment.attack("cloned_chip")
    victim = json.loads((card / "card.json").read_text(encoding="utf-8"))["live_photo"]
    result = check(deployment, card, photos=[Path(victim)], aa=False, terminal="lab-desk")
    # asked again for the answer it cannot give (with it: CHIP_NOT_GENUINE, the attack test)
    assert result.decision == "RETRY" and result.reason_codes == ["AA_MISSING"]
    assert result.entitlement is None


def test_desk_capture_must_be_fresh(deployment: Deployment) -> None:
    """A desk sends one frame: it must be taken within the challenge window, and never seen before
    (exact bytes, or re-encoded: perceptual hash)."""
    import io

    from PIL import Image

    card = deployment.card("obama")
    with deployment.client("clean-desk") as client:
        _, first = _begin_and_request(deployment, card, client)
        assert client.verification.Verify(first, timeout=60).decision == pb.DECISION_ACCEPTED
        # the same capture, re-encoded, with a fresh timestamp
        _, second = _begin_and_request(deployment, card, client)
        buffer = io.BytesIO()
        Image.open(io.BytesIO(first.frames[0].image)).save(buffer, "JPEG", quality=93)
        second.frames[0].image = buffer.getvalue()
        replayed = client.verification.Verify(second, timeout=60)
        assert [r.code for r in replayed.reasons] == [pb.REASON_CODE_FRAMES_REPLAYED]
        # a fresh capture stamped long ago
        _, third = _begin_and_request(deployment, card, client)
        third.frames[0].timestamp_ms = 1
        stale = client.verification.Verify(third, timeout=60)
        assert [r.code for r in stale.reasons] == [pb.REASON_CODE_LIVENESS_FAILED]
        assert "window" in stale.reasons[0].detail


ATTACK_REASONS = {
    "dg13_edited": "DATA_GROUP_HASH_MISMATCH",
    "dg2_swapped": "DATA_GROUP_HASH_MISMATCH",
    "rogue_ds": "SIGNER_UNTRUSTED",
    "ds_not_yet_valid": "SIGNER_EXPIRED",
    "ds_expired": "SIGNER_EXPIRED",
    "ds_revoked": "SIGNER_REVOKED",
    "untrusted_csca": "SIGNER_UNTRUSTED",
    "cloned_chip": "CHIP_NOT_GENUINE",
    "cloned_chip-ec": "CHIP_NOT_GENUINE",
    "dg15_replaced": "DATA_GROUP_HASH_MISMATCH",
    "aa_replay": "CHIP_NOT_GENUINE",
    "aa_replay-ec": "CHIP_NOT_GENUINE",
}


@pytest.mark.parametrize("attack", sorted(ATTACK_REASONS))
def test_every_card_lab_attack_is_rejected_with_its_reason(deployment: Deployment, attack: str) -> None:
    card = deployment.attack(attack)
    victim = json.loads((card / "card.json").read_text(encoding="utf-8")).get("live_photo")
    result = check(deployment, card, photos=[Path(victim)], terminal="lab-desk")
    assert result.decision == "REJECTED"
    assert result.reason_codes[0] == ATTACK_REASONS[attack], result.reasons
    assert result.entitlement is None


def _begin_and_request(
    d: Deployment, card: Path, client: GatewayClient
) -> tuple[Challenge, pb.VerifyRequest]:
    challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
    signatures = SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge)
    camera = SimulatedCamera(live_photos(d, card))
    frame = camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))[0]
    files = read_chip_files(card)
    request = pb.VerifyRequest(
        challenge_id=challenge.challenge_id,
        terminal_id=client.terminal_id,
        chip=pb.ChipData(
            ef_sod=files["EF.SOD"],
            dg1=files["DG1"],
            dg2=files["DG2"],
            dg13=files["DG13"],
            dg14=files.get("DG14", b""),
            dg15=files.get("DG15", b""),
        ),
        active_auth=pb.ActiveAuthResponse(signatures=signatures),
        frames=[frame.to_proto()],
        operator=OPERATOR.to_proto(),
    )
    return challenge, request


def test_a_check_whose_terminal_hangs_up_still_leaves_its_audit_record(deployment: Deployment) -> None:
    """The challenge is spent once the check starts: a terminal that disconnects afterwards must not
    make the attempt vanish from the audit log."""
    import io
    import time

    from PIL import Image

    d = deployment
    card = d.card("howard")
    with Image.open(live_photos(d, card)[0]) as photo:
        # the largest live frame the gateway takes (3840x2160): a few hundred ms of face work
        big = photo.convert("RGB").resize((3840, 2160))
    out = io.BytesIO()
    big.save(out, "JPEG", quality=95)

    def query(sql: str, *args: object) -> list[tuple[object, ...]]:
        db = sqlite3.connect(d.home / "gateway.db")
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def hang_up_records() -> int:
        return sum("caller cancelled" in str(row[0]) for row in query("SELECT body FROM audit_log"))

    before = hang_up_records()
    with d.client("hangup-desk") as client:
        _, request = _begin_and_request(d, card, client)
        request.frames[0].image = out.getvalue()
        call = client.verification.Verify.future(request, timeout=60)
        deadline = time.monotonic() + 30
        spent: list[tuple[object, ...]] = []
        while not spent and not call.done() and time.monotonic() < deadline:
            spent = query(
                "SELECT 1 FROM challenges WHERE challenge_id = ? AND consumed_at IS NOT NULL",
                request.challenge_id,
            )
            time.sleep(0.01)
        assert spent and not call.done(), "the check ended before the terminal could hang up"
        call.cancel()  # the terminal disconnects with its challenge spent
        again = client.verification.Verify(request, timeout=60)
        assert [r.code for r in again.reasons] == [pb.REASON_CODE_CHALLENGE_REPLAYED]
    deadline = time.monotonic() + 30
    while hang_up_records() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hang_up_records() == before + 1


def test_replayed_verify_is_rejected(deployment: Deployment) -> None:
    card = deployment.card("howard")
    with deployment.client("qr-desk") as client:
        _, request = _begin_and_request(deployment, card, client)
        first = client.verification.Verify(request, timeout=60)
        second = client.verification.Verify(request, timeout=60)
    assert first.decision == pb.DECISION_ACCEPTED
    assert second.decision == pb.DECISION_REJECTED
    assert [r.code for r in second.reasons] == [pb.REASON_CODE_CHALLENGE_REPLAYED]


def test_challenge_of_another_terminal_is_rejected(deployment: Deployment) -> None:
    card = deployment.card("howard")
    with deployment.client("lab-desk") as desk1, deployment.client("desk-02") as desk2:
        _, request = _begin_and_request(deployment, card, desk1)
        request.terminal_id = "desk-02"
        response = desk2.verification.Verify(request, timeout=60)
    assert [r.code for r in response.reasons] == [pb.REASON_CODE_CHALLENGE_TERMINAL_MISMATCH]


def test_expired_challenge_is_rejected(deployment: Deployment, clock: Callable[[dt.timedelta], None]) -> None:
    card = deployment.card("howard")
    with deployment.client("lab-desk") as client:
        _, request = _begin_and_request(deployment, card, client)
        clock(dt.timedelta(minutes=10))
        response = client.verification.Verify(request, timeout=60)
    assert [r.code for r in response.reasons] == [pb.REASON_CODE_CHALLENGE_EXPIRED]


def test_unknown_challenge_is_rejected(deployment: Deployment) -> None:
    card = deployment.card("howard")
    with deployment.client("lab-desk") as client:
        _, request = _begin_and_request(deployment, card, client)
        request.challenge_id = "0" * 32
        response = client.verification.Verify(request, timeout=60)
    assert [r.code for r in response.reasons] == [pb.REASON_CODE_CHALLENGE_UNKNOWN]


def test_lost_card_is_rejected(deployment: Deployment) -> None:
    card = deployment.card("biden")
    cccd = json.loads((card / "card.json").read_text(encoding="utf-8"))["citizen_id"]
    assert check(deployment, card).decision == "ACCEPTED"
    with deployment.client("counter-01") as counter:
        counter.report_lost(cccd, "stolen", OPERATOR)
    result = check(deployment, card, terminal="lab-desk")
    assert result.decision == "REJECTED" and result.reason_codes == ["DOCUMENT_REPORTED_LOST"]


def test_velocity_rule_sends_a_second_facility_to_review(deployment: Deployment) -> None:
    card = deployment.card("rose-leslie")
    first = check(deployment, card, terminal="desk-01")
    assert first.decision == "ACCEPTED", first.reasons
    second = check(deployment, card, terminal="desk-02")
    assert second.decision == "REVIEW"
    assert second.reason_codes == ["FRAUD_VELOCITY"]
    assert second.entitlement is None


def test_simultaneous_checks_at_two_facilities_cannot_both_pass(deployment: Deployment) -> None:
    card = deployment.card("stuart")
    results: dict[str, VerificationResult] = {}
    barrier = threading.Barrier(2)

    def run(terminal: str) -> None:
        barrier.wait()
        results[terminal] = check(deployment, card, terminal=terminal)

    threads = [threading.Thread(target=run, args=(t,)) for t in ("desk-01", "desk-02")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    decisions = sorted(r.decision for r in results.values())
    assert decisions == ["ACCEPTED", "REVIEW"], {k: v.reasons for k, v in results.items()}


def test_cards_of_the_army_and_police_funds_go_to_review(deployment: Deployment) -> None:
    card = deployment.card("amy")
    record = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    with deployment.client("bhxh-admin-01") as admin:
        response = admin.import_entitlements(json.dumps({**record, "managed_by": "army"}).encode(), "jsonl")
        assert response.imported_count == 1, list(response.errors)
    try:
        result = check(deployment, card)
        assert result.decision == "REVIEW"
        assert result.reason_codes == ["CARD_MANAGED_ELSEWHERE"]
        assert result.entitlement is None
    finally:
        with deployment.client("bhxh-admin-01") as admin:
            admin.import_entitlements(json.dumps(record).encode(), "jsonl")


def test_repeated_face_mismatches_lock_biometric_checkin(deployment: Deployment) -> None:
    card = deployment.card("penny")
    impostor = live_photos(deployment, deployment.card("howard"))
    for _ in range(3):
        assert check(deployment, card, photos=impostor, terminal="clean-desk").reason_codes == [
            "FACE_MISMATCH"
        ]
    locked = check(deployment, card, terminal="clean-desk")  # even the holder, until the lock ends
    assert locked.decision == "REJECTED" and locked.reason_codes == ["FRAUD_BIOMETRIC_LOCKED"]


def test_concurrent_verifications_of_different_cards_all_succeed(deployment: Deployment) -> None:
    cards = [deployment.card(name) for name in ("obama", "howard", "sheldon", "amy")]
    results: dict[str, VerificationResult] = {}

    def run(card: Path) -> None:
        results[card.name] = check(deployment, card, terminal="counter-01")

    threads = [threading.Thread(target=run, args=(card,)) for card in cards]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == len(cards)
    for name, result in results.items():
        assert result.decision == "ACCEPTED", (name, result.reasons)


def test_two_simultaneous_uses_of_one_challenge_exactly_one_wins(deployment: Deployment) -> None:
    card = deployment.card("obama")
    with deployment.client("desk-01") as client:
        _, request = _begin_and_request(deployment, card, client)
        responses: list[pb.VerifyResponse] = []
        barrier = threading.Barrier(4)

        def fire() -> None:
            with deployment.client("desk-01") as own:
                barrier.wait()
                responses.append(own.verification.Verify(request, timeout=60))

        threads = [threading.Thread(target=fire) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    replayed = [r for r in responses if [x.code for x in r.reasons] == [pb.REASON_CODE_CHALLENGE_REPLAYED]]
    assert len(responses) == 4 and len(replayed) == 3


def _other_ca_credentials(tmp_path: Path) -> grpc.ChannelCredentials:
    layout = write_dev_pki(
        tmp_path / "rogue", [TerminalIdentity("desk-01", "01001", "hospital-checkin", "desk")]
    )  # type: ignore[arg-type]
    return grpc.ssl_channel_credentials(
        (layout.root.parent.parent / "x").read_bytes() if False else None,
        layout.terminal_key("desk-01").read_bytes(),
        layout.terminal_cert("desk-01").read_bytes(),
    )


def test_clients_without_a_valid_certificate_are_refused(deployment: Deployment, tmp_path: Path) -> None:
    address = deployment.running.address
    ca = (deployment.home / "pki" / "ca.pem").read_bytes()
    rogue = write_dev_pki(
        tmp_path / "rogue", [TerminalIdentity("desk-01", "01001", "hospital-checkin", "desk")]
    )  # type: ignore[arg-type]
    attempts = {
        "no client certificate": grpc.ssl_channel_credentials(ca),
        "certificate from another CA": grpc.ssl_channel_credentials(
            ca, rogue.terminal_key("desk-01").read_bytes(), rogue.terminal_cert("desk-01").read_bytes()
        ),
    }
    for label, credentials in attempts.items():
        with grpc.secure_channel(address, credentials) as channel:
            stub = pb_grpc.VerificationServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.GetAttestationKeys(pb.GetAttestationKeysRequest(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, label


def test_roles_and_claimed_identities_are_enforced(deployment: Deployment) -> None:
    with deployment.client("desk-01") as desk, pytest.raises(GatewayError) as err:
        desk.verify_audit()
    assert err.value.code == "PERMISSION_DENIED"
    with deployment.client("kiosk-01") as kiosk, pytest.raises(GatewayError) as err:
        kiosk.begin(terminal_kind="desk", operator=OPERATOR)  # a kiosk claiming to be a staffed desk
    assert err.value.code == "PERMISSION_DENIED"
    with deployment.client("desk-01") as desk:
        desk.terminal_id = "desk-02"
        with pytest.raises(GatewayError) as err:
            desk.begin(terminal_kind="desk", operator=OPERATOR)
    assert err.value.code == "PERMISSION_DENIED"


def test_malformed_requests_get_invalid_argument_with_field_details(deployment: Deployment) -> None:
    card = deployment.card("obama")
    with deployment.client("desk-01") as client:
        _, request = _begin_and_request(deployment, card, client)
        broken = pb.VerifyRequest()
        broken.CopyFrom(request)
        broken.chip.ClearField("ef_sod")
        del broken.active_auth.signatures[3]
        del broken.frames[:]
        with pytest.raises(grpc.RpcError) as err:
            client.verification.Verify(broken, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = {f for f, _ in GatewayError.from_rpc_error(err.value).violations}
        assert {"chip.ef_sod", "active_auth.signatures", "frames"} <= fields
        garbage = pb.VerifyRequest()
        garbage.CopyFrom(request)
        garbage.chip.ef_sod = b"\x77\x82\xff\xff" + b"\x00" * 10
        records = deployment.running.gateway.store.audit_head()[0]
        with pytest.raises(grpc.RpcError) as err:
            client.verification.Verify(garbage, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert GatewayError.from_rpc_error(err.value).violations[0][0] == "chip.ef_sod"
        # the spent challenge is on record
        assert deployment.running.gateway.store.audit_head()[0] == records + 1
        with pytest.raises(grpc.RpcError) as err:
            client.verification.BeginVerification(pb.BeginVerificationRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # Attack run 2026-12-02: an enum value the contract does not define was accepted.
        with pytest.raises(grpc.RpcError) as err:
            client.verification.BeginVerification(
                pb.BeginVerificationRequest(
                    terminal_kind=pb.TERMINAL_KIND_DESK,
                    terminal_id="desk-01",
                    purpose=99,  # type: ignore[arg-type]
                    operator=OPERATOR.to_proto(),
                ),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in GatewayError.from_rpc_error(err.value).violations] == ["purpose"]


def test_hundreds_of_frames_get_invalid_argument_not_a_trailer_too_large(deployment: Deployment) -> None:
    """Attack run 2026-12-02: EnrollTemplate (or Verify) with 400 one-byte frames, a 6 kB request,
    got one violation per frame: a 23 kB trailer, over the client's 16 KiB limit, so the caller saw
    RESOURCE_EXHAUSTED ("received metadata size exceeds hard limit"), which the SDK resends as shed."""
    frames = [pb.CaptureFrame(image=b"x", timestamp_ms=1)] * 400
    with deployment.client("counter-01") as client:
        with pytest.raises(grpc.RpcError) as err:
            client.counter.EnrollTemplate(
                pb.EnrollTemplateRequest(
                    verification_id="0" * 32, operator=OPERATOR.to_proto(), frames=frames
                ),
                timeout=30,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = GatewayError.from_rpc_error(err.value).violations
        assert ("frames", "between 1 and 12 frames required") in violations
        assert not any(field.startswith("frames[") for field, _ in violations)
    card = deployment.card("obama")
    with deployment.client("desk-01") as client:
        _, request = _begin_and_request(deployment, card, client)
        request.frames.extend(frames)
        with pytest.raises(grpc.RpcError) as err:
            client.verification.Verify(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ("frames", "between 1 and 12 frames required") in GatewayError.from_rpc_error(
            err.value
        ).violations


def test_broken_images_are_business_rejections_not_crashes(deployment: Deployment) -> None:
    """As the contract says: a frame that is no JPEG, PNG or JPEG 2000 at all is INVALID_ARGUMENT
    before the challenge is spent; one with a valid signature that does not decode is found by the
    face check, after it: REJECTED, POOR_FACE_QUALITY, the detail naming the image error."""
    card = deployment.card("obama")
    with deployment.client("lab-desk") as client:
        for image in (b"not an image at all", b"GIF89a" + b"\x00" * 100, bytes(range(256)) * 4):
            _, request = _begin_and_request(deployment, card, client)
            request.frames[0].image = image
            with pytest.raises(grpc.RpcError) as err:
                client.verification.Verify(request, timeout=60)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert GatewayError.from_rpc_error(err.value).violations == [
                ("frames[0].image", "not a JPEG, PNG or JPEG 2000 image")
            ]
            # the challenge was not consumed: the same request with a real frame is checked
            request.frames[0].image = (
                SimulatedCamera(live_photos(deployment, card)).single(request.frames[0].timestamp_ms)[0].image
            )
            checked = client.verification.Verify(request, timeout=60)
            challenge = [c.status for c in checked.checks if c.check == pb.CHECK_CHALLENGE]
            assert challenge == [pb.CHECK_STATUS_PASSED], checked.reasons
            assert pb.REASON_CODE_POOR_FACE_QUALITY not in [r.code for r in checked.reasons]
        undecodable = {"live capture: image_truncated", "live capture: image_corrupt"}
        for image in (
            b"\xff\xd8\xff\xe0" + b"\x00" * 100,
            b"\x89PNG\r\n\x1a\n",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"IEND",
            b"\xff\x4f\xff\x51" + b"\x00" * 100,  # a JPEG 2000 codestream header, then nothing
        ):
            _, request = _begin_and_request(deployment, card, client)
            request.frames[0].image = image
            response = client.verification.Verify(request, timeout=60)
            # an image that does not decode says nothing about fraud: RETRY, face the camera
            assert response.decision == pb.DECISION_RETRY
            assert response.retry_hint == pb.RETRY_HINT_FACE_THE_CAMERA
            codes = [r.code for r in response.reasons]
            # lab-desk takes every attack, so the terminal rule may flag it as well
            assert [c for c in codes if c != pb.REASON_CODE_FRAUD_TERMINAL_FLAGGED] == [
                pb.REASON_CODE_POOR_FACE_QUALITY
            ]
            assert response.reasons[0].detail in undecodable


def _tiny_image_declaring(fmt: str, width: int, height: int) -> bytes:
    """A real 64x64 image whose header is rewritten to declare width x height (~1 KB)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 60)).save(buf, fmt)
    data = bytearray(buf.getvalue())
    if fmt == "PNG":  # IHDR, the first chunk (its CRC is left stale: the size is all that is read)
        data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        return bytes(data)
    i = 2
    while data[i + 1] != 0xC0:  # JPEG: the baseline frame header
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    data[i + 5 : i + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_a_frame_declaring_more_than_the_live_frame_budget_is_refused_before_the_challenge(
    deployment: Deployment,
) -> None:
    """A ~1 KB JPEG declaring 6000x4000 used to pass (the 24 Mpx budget is the chip portrait's),
    spend the challenge and decode into 72 MB in a worker. Live frames have their own budget
    (3840x2160), read from the header in the main process: INVALID_ARGUMENT, challenge unspent."""
    budget = deployment.running.gateway.config.face.max_frame_pixels
    assert budget == 3840 * 2160
    card = deployment.card("obama")
    with deployment.client("lab-desk") as client:
        for fmt, width, height in (("JPEG", 6000, 4000), ("PNG", 4000, 3000), ("JPEG", 3841, 2160)):
            _, request = _begin_and_request(deployment, card, client)
            records = deployment.running.gateway.store.audit_head()[0]
            request.frames[0].image = _tiny_image_declaring(fmt, width, height)
            assert len(request.frames[0].image) < 2048
            with pytest.raises(grpc.RpcError) as err:
                client.verification.Verify(request, timeout=60)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert GatewayError.from_rpc_error(err.value).violations == [
                (
                    "frames[0].image",
                    f"declares {width}x{height} pixels, over the live-frame budget of {budget} pixels",
                )
            ]
            assert deployment.running.gateway.store.audit_head()[0] == records  # nothing spent
            # the challenge is still usable: the same request with a real frame is checked
            request.frames[0].image = (
                SimulatedCamera(live_photos(deployment, card)).single(request.frames[0].timestamp_ms)[0].image
            )
            checked = client.verification.Verify(request, timeout=60)
            challenge = [c.status for c in checked.checks if c.check == pb.CHECK_CHALLENGE]
            assert challenge == [pb.CHECK_STATUS_PASSED], checked.reasons


def test_request_size_limits_and_undecodable_bodies(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    """Per-RPC limits, checked before parsing; a body that is no protobuf message is
    INVALID_ARGUMENT (it was UNKNOWN with the decoder's class name and a traceback in the log)."""
    limits = RequestLimits.from_config(deployment.running.gateway.config)
    with deployment.client("desk-01") as client:
        channel = client._channel
        for method, body, expected in [
            ("BeginVerification", b"\x12\xff\xff", "request body is not a valid BeginVerificationRequest"),
            ("Verify", b"\x0a\x80\x80\x80\x80\x10", "request body is not a valid VerifyRequest"),
            (
                "BeginVerification",
                pb.BeginVerificationRequest(terminal_id="x" * 5000).SerializeToString(),
                f"exceeds {limits.limit('BeginVerification')} for BeginVerification",
            ),
        ]:
            call = channel.unary_unary(f"/bhytgate.v1.VerificationService/{method}")
            with caplog.at_level(logging.INFO), pytest.raises(grpc.RpcError) as err:
                call(body, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
            assert expected in (err.value.details() or "")
        assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert limits.largest == limits.limit("Verify")
    assert limits.limit("BeginVerification") <= 4096 < limits.limit("ReportDocumentLost") <= 16384


def test_import_rejects_bad_rows_without_importing_half(deployment: Deployment) -> None:
    good = json.loads((deployment.card("obama") / "entitlement.json").read_text(encoding="utf-8"))
    good = {
        **good,
        "card_number": "DN4010123456789",
        "social_insurance_number": "0123456789",
        "beneficiary_group": "DN",
        "benefit_code": 4,
        "province_code": "01",
        "cccd_number": "001090000001",
    }
    bad = {**good, "card_number": "XX9", "valid_from": "31/02/2026"}
    content = (
        json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n"
    ).encode()
    with deployment.client("bhxh-admin-01") as admin:
        response = admin.import_entitlements(content, "jsonl")
        assert response.imported_count == 0 and response.errors
        assert {e.row for e in response.errors} == {2}
        assert deployment.running.gateway.store.entitlement_by_card("DN4010123456789") is None
        ok = admin.import_entitlements(content.splitlines(keepends=True)[0], "jsonl")
        assert ok.imported_count == 1 and not ok.errors
    assert deployment.running.gateway.store.entitlement_by_card("DN4010123456789") is not None


def test_audit_chain_verifies_and_a_tampered_row_is_found(deployment: Deployment, tmp_path: Path) -> None:
    forged = deployment.attack("dg13_edited")
    victim = json.loads((forged / "card.json").read_text(encoding="utf-8"))["live_photo"]
    for _ in range(4):  # records of its own, whatever ran before
        check(deployment, forged, photos=[Path(victim)], terminal="lab-desk")
    with deployment.client("admin-01") as admin:
        before = admin.verify_audit()
    assert before.ok and before.record_count >= 4
    # An attacker with write access to the database file: drop the no-update trigger, edit a row.
    # The deployment is the session's: the row and the triggers are put back afterwards, or every
    # later test on it would read a broken chain and an audit index no longer fed (seen when the
    # suite ran in another order).
    db = sqlite3.connect(deployment.home / "gateway.db")
    # Only the trigger that stops an UPDATE: with the others gone too, a record the gateway appends
    # meanwhile (its orphan sweep runs on its own) would get no index row and fail later checks.
    triggers = list(
        db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND name = 'audit_log_no_update'"
        )
    )
    assert len(triggers) == 1
    # A decision record (not a counter action, whose body names neither outcome), past the first two.
    row = db.execute(
        """SELECT seq, body FROM audit_log WHERE seq >= 2
           AND (body LIKE '%"decision":"REJECTED"%' OR body LIKE '%"decision":"ACCEPTED"%')
           ORDER BY seq LIMIT 1"""
    ).fetchone()
    edited = row[1].replace("REJECTED", "ACCEPTED").replace("ACCEPTED", "REVIEW", 1)
    assert edited != row[1]
    try:
        for name, _ in triggers:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE audit_log SET body = ? WHERE seq = ?", (edited, row[0]))
        db.commit()
        with deployment.client("admin-01") as admin:
            after = admin.verify_audit()
        assert not after.ok
        assert after.first_broken_record == row[0]
    finally:
        db.execute("UPDATE audit_log SET body = ? WHERE seq = ?", (row[1], row[0]))
        for _, create in triggers:
            db.execute(create)
        db.commit()
        db.close()
    with deployment.client("admin-01") as admin:
        assert admin.verify_audit().ok


def test_audit_records_hold_no_personal_data(deployment: Deployment) -> None:
    card = deployment.card("biden")
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    check(deployment, card)
    db = sqlite3.connect(deployment.home / "gateway.db")
    bodies = "\n".join(row[0] for row in db.execute("SELECT body FROM audit_log"))
    db.close()
    assert meta["citizen_id"] not in bodies and meta["full_name"] not in bodies
    assert OPERATOR.full_name not in bodies


def test_counter_enrolment_enables_the_qr_path(deployment: Deployment) -> None:
    card = deployment.card("sheldon")
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    photos = live_photos(deployment, card)
    with deployment.client("counter-01") as counter:
        verification = check(deployment, card, terminal="counter-01")
        assert verification.decision in ("ACCEPTED", "REVIEW"), verification.reasons
        frames = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(photos[:3])]
        terms = counter.consent_terms().terms_version
        assert counter.enroll(verification.verification_id, frames, OPERATOR, consent_terms_version=terms)
        # one verification enrols once: other frames under the same proof do not replace it
        others = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(photos[3:6] or photos[:3])]
        with pytest.raises(GatewayError) as again:
            counter.enroll(verification.verification_id, others, OPERATOR, consent_terms_version=terms)
        assert again.value.code == "FAILED_PRECONDITION"
        assert "enrolled for this holder since this verification" in again.value.message
    holder = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    born = holder["date_of_birth"].replace("/", "")  # dd/MM/yyyy -> ddMMyyyy
    qr = f"{meta['citizen_id']}||{meta['full_name']}|{born}|{holder['sex']}|Hà Nội|01012021"
    camera = SimulatedCamera(photos)
    with deployment.client("qr-desk") as desk:
        challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
        frames = camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        result = desk.verify(challenge, qr=("cccd", qr), frames=frames, operator=OPERATOR)
        assert result.decision in ("ACCEPTED", "REVIEW"), result.reasons
        assert result.assurance_level == "QR_ENROLLED_FACE"
        # someone else's face against the enrolled template
        other = SimulatedCamera(live_photos(deployment, deployment.card("obama")))
        challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
        frames = other.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        mismatch = desk.verify(challenge, qr=("cccd", qr), frames=frames, operator=OPERATOR)
        assert mismatch.decision == "REJECTED" and "TEMPLATE_MISMATCH" in mismatch.reason_codes
        # a QR for a holder with no template
        unknown = "001090000999||Ai Đó|01011990|Nam|Hà Nội|01012021"
        challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
        frames = camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        none = desk.verify(challenge, qr=("cccd", unknown), frames=frames, operator=OPERATOR)
        assert none.reason_codes == ["TEMPLATE_NOT_ENROLLED"]


def test_terminal_device_key_signature(deployment: Deployment) -> None:
    """A device key registered through the admin RPC is required from then on (the terminal has a
    certificate of its own, so the key binds no other test's terminal)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with deployment.client("admin-01") as admin:
        admin.register_terminal_key("signing-phone", public)
    card = deployment.card("howard")
    camera = SimulatedCamera(live_photos(deployment, card))
    chip = SimulatedChip.from_dump(card)
    with deployment.client("signing-phone") as phone:
        for signer, expected in (
            (key, "ACCEPTED"),
            (ec.generate_private_key(ec.SECP256R1()), "REJECTED"),
        ):
            challenge = phone.begin(terminal_kind="phone")
            frames = camera.burst(
                challenge.liveness_actions, start_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000)
            )
            result = phone.verify(
                challenge,
                chip_files=read_chip_files(card),
                aa_signatures=chip.answer_challenge(challenge.aa_challenge),
                frames=frames,
                sign_frames=lambda payload, k=signer: k.sign(
                    payload,
                    ec.ECDSA(
                        __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()
                    ),
                ),
                key_id="signing-phone",
            )
            assert result.decision == expected, result.reasons
            if expected == "REJECTED":
                assert result.reason_codes == ["TERMINAL_SIGNATURE_INVALID"]
        challenge = phone.begin(terminal_kind="phone")
        frames = camera.burst(
            challenge.liveness_actions, start_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        )
        unsigned = phone.verify(
            challenge,
            chip_files=read_chip_files(card),
            aa_signatures=chip.answer_challenge(challenge.aa_challenge),
            frames=frames,
        )
        assert unsigned.reason_codes == ["TERMINAL_SIGNATURE_INVALID"]


def test_health_and_reflection(deployment: Deployment) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with deployment.client("desk-01") as client:
        channel = client._channel
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="bhytgate.v1.VerificationService"), timeout=10
        )
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
        assert "bhytgate.v1.VerificationService" in names


def test_metrics_count_decisions(deployment: Deployment) -> None:
    text = deployment.running.metrics.render().decode()
    assert 'bhytgate_decisions_total{outcome="ACCEPTED"}' in text
    assert 'bhytgate_decision_reasons_total{code="FACE_MISMATCH"}' in text
    assert "bhytgate_stage_seconds_bucket" in text


def test_admin_loads_trust_anchors_and_master_lists(deployment: Deployment) -> None:
    emrtd = deployment.faces.parent / "emrtd"
    root = (emrtd / "trust" / "DE_ROOT_CA_CSCA07.cer").read_bytes()
    master_list = (emrtd / "trust" / "DE_ML_2026-05-28-08-28-45.ml").read_bytes()
    with deployment.client("admin-01") as hospital, pytest.raises(GatewayError) as refused:
        hospital.load_trust([root])  # chip trust is national: the fund's
    assert refused.value.code == "PERMISSION_DENIED"
    assert "facility 01001 may not change the chip trust anchors" in refused.value.message
    with deployment.client("bhxh-admin-01") as admin:
        before = admin.load_trust()
        response = admin.load_trust([root], [master_list])
        assert response.csca_total > before.csca_total + 400
        again = admin.load_trust([root])
        assert again.csca_added == 0  # duplicates are not counted
        with pytest.raises(GatewayError) as err:
            admin.load_trust([b"not a certificate"])
        assert err.value.code == "INVALID_ARGUMENT"
    with deployment.client("counter-01") as counter, pytest.raises(GatewayError) as err:
        counter.load_trust([root])
    assert err.value.code == "PERMISSION_DENIED"


def test_the_terminal_ca_is_not_loadable_as_a_csca(deployment: Deployment) -> None:
    """A CA that names no country is not a CSCA (ICAO 9303-12): the gateway's own mTLS CA, loaded
    as one, would have let anyone holding its key sign chips the gateway trusts."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = (deployment.home / "pki" / "ca.pem").read_bytes()
    der = cx509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    with deployment.client("bhxh-admin-01") as admin:
        before = admin.load_trust().csca_total
        with pytest.raises(GatewayError) as err:
            admin.load_trust([der])
        assert err.value.code == "INVALID_ARGUMENT"
        assert any("not a CSCA" in text for _, text in err.value.violations), err.value.violations
        assert admin.load_trust().csca_total == before


def test_bhyt_qr_selects_the_enrolled_holder(deployment: Deployment) -> None:
    from bhytgate.entitlement.cardnumber import parse_card_number
    from bhytgate.entitlement.qr import BhytQr, format_bhyt_qr

    card = deployment.card("howard")
    photos = live_photos(deployment, card)
    with deployment.client("counter-01") as counter:
        verification = check(deployment, card, terminal="counter-01")
        assert verification.decision in ("ACCEPTED", "REVIEW"), verification.reasons
        frames = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(photos[:2])]
        counter.enroll(
            verification.verification_id,
            frames,
            OPERATOR,
            consent_terms_version=counter.consent_terms().terms_version,
        )
    ent = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    qr = format_bhyt_qr(
        BhytQr(
            card_number=parse_card_number(ent["card_number"]),
            full_name=ent["full_name"],
            date_of_birth=ent["date_of_birth"],
            sex=ent["sex"],
            address=ent["address"],
            registered_facility=ent["registered_facility"],
            valid_from=dt.date.fromisoformat(ent["valid_from"]),
            valid_to=None,
            issue_date=None,
            management_code="ABC",
            parent_name=None,
            area_code=None,
            five_year_date=None,
            check_string="0123",
        )
    )
    camera = SimulatedCamera(photos)
    with deployment.client("qr-desk") as desk:
        challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
        frames = camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        result = desk.verify(challenge, qr=("bhyt", qr), frames=frames, operator=OPERATOR)
    assert result.assurance_level == "QR_ENROLLED_FACE", result.reasons
    assert result.decision in ("ACCEPTED", "REVIEW")
    with deployment.client("qr-desk") as desk:
        challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
        frames = camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        broken = desk.verify(challenge, qr=("bhyt", "garbage|$"), frames=frames, operator=OPERATOR)
    assert broken.reason_codes == ["QR_UNUSABLE"]


def test_a_terminal_that_mostly_fails_is_flagged(deployment: Deployment) -> None:
    """Probing with forged chips from one terminal: after enough rejections its checks go to review."""
    forged = deployment.attack("dg13_edited")
    victim = json.loads((forged / "card.json").read_text(encoding="utf-8"))["live_photo"]
    for _ in range(10):
        assert check(deployment, forged, photos=[Path(victim)], terminal="probe-desk").decision == "REJECTED"
    genuine = check(deployment, deployment.card("obama"), terminal="probe-desk")
    assert genuine.decision == "REVIEW"
    assert genuine.reason_codes == ["FRAUD_TERMINAL_FLAGGED"]


def test_a_counter_cannot_link_a_cccd_to_another_persons_cover(deployment: Deployment) -> None:
    card = deployment.card("sheldon")
    cccd = json.loads((card / "card.json").read_text(encoding="utf-8"))["citizen_id"]
    other = json.loads((deployment.card("obama") / "entitlement.json").read_text(encoding="utf-8"))
    own = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    verification = check(deployment, card, terminal="counter-01")
    with deployment.client("counter-01") as counter:
        with pytest.raises(GatewayError) as err:
            counter.link(cccd, other["social_insurance_number"], verification.verification_id, OPERATOR)
        assert err.value.code == "FAILED_PRECONDITION"
        ma_the = counter.link(cccd, own["social_insurance_number"], verification.verification_id, OPERATOR)
        assert ma_the == own["card_number"]
    with deployment.client("desk-01") as desk, pytest.raises(GatewayError) as err:
        desk.link(cccd, own["social_insurance_number"], verification.verification_id, OPERATOR)
    assert err.value.code == "PERMISSION_DENIED"


def test_an_undecodable_frame_in_a_liveness_burst_is_poor_quality(deployment: Deployment) -> None:
    """Like a desk frame: REJECTED, POOR_FACE_QUALITY naming the image error, and the burst counts
    as not performed, as with a frame showing no face (it was a lone LIVENESS_FAILED whose detail
    said only "liveness_bad_frame")."""
    d = deployment
    card = d.card("sheldon")
    camera = SimulatedCamera(live_photos(d, card))

    def capture(challenge: Challenge) -> list[Frame]:
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        frames = camera.burst(challenge.liveness_actions, start_ms=now)
        cut = frames[1].image[: len(frames[1].image) // 3]  # a transfer cut short: still a JPEG start
        return [frames[0], dataclasses.replace(frames[1], image=cut), *frames[2:]]

    with d.client("kiosk-01") as client:
        result = client.check_in(
            read_chip_files(card),
            capture,
            answer_challenge=SimulatedChip.from_dump(card).answer_challenge,
            terminal_kind="kiosk",
        )
    assert result.decision == "REJECTED"
    assert result.reason_codes == ["POOR_FACE_QUALITY", "LIVENESS_FAILED"], result.reasons
    assert result.reasons[0][1] in ("live capture: image_truncated", "live capture: image_corrupt")

"""Every guarantee across replicas: real `bhytgate serve` processes over one real PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import chip_photo_source, read_chip_files
from bhytgate_clients.sdk import Frame, GatewayClient, GatewayError, Operator, VerificationResult

from .conftest import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
OPERATOR = Operator("Lê Thu Hà", "001185000123")


def photos(c: Cluster, card: Path, identity: str | None = None) -> list[Path]:
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    who = identity or meta.get("identity") or card.name.split("-", 1)[1]
    rows = (c.faces / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    found = [c.faces / line.split(",")[0] for line in rows if line.split(",")[1] == who]
    source = chip_photo_source(card)
    return [p for p in found if source is None or p.resolve() != source.resolve()]


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def desk_check(
    begin_on: GatewayClient,
    verify_on: GatewayClient,
    card: Path,
    camera: SimulatedCamera | Callable[[], list[Frame]],
) -> VerificationResult:
    """Begin on one replica, capture (after the challenge, as a terminal does), Verify on another."""
    challenge = begin_on.begin(terminal_kind="desk", operator=OPERATOR)
    frames = fresh(camera) if isinstance(camera, SimulatedCamera) else camera()
    return verify_on.verify(
        challenge,
        chip_files=read_chip_files(card),
        aa_signatures=SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge),
        frames=frames,
        operator=OPERATOR,
    )


def fresh(camera: SimulatedCamera) -> list[Frame]:
    return camera.single(now_ms())


def test_begin_on_one_replica_verify_on_another(cluster: Cluster) -> None:
    card = cluster.card("obama")
    camera = SimulatedCamera(photos(cluster, card))
    with cluster.client("desk-01", "a") as a, cluster.client("desk-01", "b") as b:
        result = desk_check(a, b, card, camera)
        assert result.decision == "ACCEPTED", result.reasons
        # every replica publishes the same attestation key
        assert a.attestation_keys() == b.attestation_keys()


def test_same_card_at_two_facilities_at_once_is_serialised(cluster: Cluster) -> None:
    """Two simultaneous check-ins of one card, at facilities 01001 (replica A) and 79014 (B): the
    document lock spans replicas, so the second sees the first (velocity REVIEW)."""
    card = cluster.card("biden")
    camera = SimulatedCamera(photos(cluster, card))
    with cluster.client("desk-01", "a") as a, cluster.client("desk-b", "b") as b:
        challenges = [
            a.begin(terminal_kind="desk", operator=OPERATOR),
            b.begin(terminal_kind="desk", operator=OPERATOR),
        ]
        frames = [fresh(camera), fresh(camera)]
        barrier = threading.Barrier(2)

        def run(i: int) -> VerificationResult:
            client = (a, b)[i]
            barrier.wait()
            return client.verify(
                challenges[i],
                chip_files=read_chip_files(card),
                aa_signatures=SimulatedChip.from_dump(card).answer_challenge(challenges[i].aa_challenge),
                frames=frames[i],
                operator=OPERATOR,
            )

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(run, range(2)))
    decisions = sorted(r.decision for r in results)
    assert decisions == ["ACCEPTED", "REVIEW"], [r.reasons for r in results]
    review = next(r for r in results if r.decision == "REVIEW")
    assert review.reason_codes == ["FRAUD_VELOCITY"]


def test_the_mismatch_lock_counts_tries_on_every_replica(cluster: Cluster) -> None:
    victim = cluster.card("bernadette")
    impostor = SimulatedCamera(photos(cluster, cluster.card("obama")))
    seen = []
    with cluster.client("lab-desk", "a") as a, cluster.client("lab-desk", "b") as b:
        for i in range(4):
            client = (a, b)[i % 2]
            seen.append(desk_check(client, client, victim, impostor).reason_codes)
    assert seen[:3] == [["FACE_MISMATCH"]] * 3, seen
    assert seen[3] == ["FRAUD_BIOMETRIC_LOCKED"], seen


def test_a_near_duplicate_frame_replayed_on_another_replica_is_refused(cluster: Cluster) -> None:
    card = cluster.card("howard")
    camera = SimulatedCamera(photos(cluster, card))
    with cluster.client("desk-01", "a") as a, cluster.client("desk-01", "b") as b:
        taken: list[Frame] = []

        def capture() -> list[Frame]:
            taken.extend(fresh(camera))
            return taken

        first = desk_check(a, a, card, capture)
        frames = taken
        assert first.decision in ("ACCEPTED", "REVIEW"), first.reasons
        # the same picture re-encoded: other bytes, the same perceptual hash
        image = Image.open(io.BytesIO(frames[0].image))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=80)
        assert out.getvalue() != frames[0].image
        replay = desk_check(b, b, card, lambda: [Frame(out.getvalue(), now_ms())])
    assert replay.decision == "REJECTED" and replay.reason_codes == ["FRAMES_REPLAYED"], replay.reasons


def test_enrol_on_one_replica_use_it_on_another(cluster: Cluster) -> None:
    card = cluster.card("sheldon")
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    live = photos(cluster, card)
    camera = SimulatedCamera(live)
    with cluster.client("counter-01", "a") as a, cluster.client("counter-01", "b") as b:
        verification = desk_check(a, a, card, camera)
        assert verification.decision in ("ACCEPTED", "REVIEW"), verification.reasons
        enrol_frames = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(live[:3])]
        # the follow-up goes to the other replica: the session is in the database
        assert b.enroll(
            verification.verification_id,
            enrol_frames,
            OPERATOR,
            consent_terms_version=b.consent_terms().terms_version,
        )
    holder = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    born = holder["date_of_birth"].replace("/", "")
    qr = f"{meta['citizen_id']}||{meta['full_name']}|{born}|{holder['sex']}|Hà Nội|01012021"
    with cluster.client("desk-01", "b") as b:
        challenge = b.begin(terminal_kind="desk", operator=OPERATOR)
        result = b.verify(challenge, qr=("cccd", qr), frames=fresh(camera), operator=OPERATOR)
    assert result.decision in ("ACCEPTED", "REVIEW"), result.reasons
    assert result.assurance_level == "QR_ENROLLED_FACE"


def test_a_stolen_report_on_one_replica_rejects_the_card_on_another(cluster: Cluster) -> None:
    card = cluster.card("leonard")
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    camera = SimulatedCamera(photos(cluster, card))
    with cluster.client("counter-01", "a") as counter:
        counter.report_lost(meta["citizen_id"], "stolen", OPERATOR)
    with cluster.client("desk-01", "b") as b:
        result = desk_check(b, b, card, camera)
    assert result.decision == "REJECTED" and result.reason_codes == ["DOCUMENT_REPORTED_LOST"]


def test_trust_anchors_and_device_keys_registered_on_one_replica_apply_on_another(cluster: Cluster) -> None:
    attack = cluster.home / "demo" / "attacks" / "untrusted_csca"
    camera = SimulatedCamera(photos(cluster, attack, "obama"))
    with cluster.client("desk-01", "b") as b:
        before = desk_check(b, b, attack, camera)
    assert before.reason_codes == ["SIGNER_UNTRUSTED"], before.reasons
    csca = (cluster.home / "demo" / "pki" / "untrusted" / "csca-untrusted.der").read_bytes()
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with cluster.client("bhxh-admin-01", "a") as fund:  # chip trust is the fund's
        assert fund.load_trust(cscas=[csca]).csca_added == 1
    with cluster.client("admin-01", "a") as admin:
        admin.register_terminal_key("signing-kiosk", public)
    time.sleep(1.5)  # replicas look for new anchors at most once a second
    with cluster.client("desk-01", "b") as b:
        after = desk_check(b, b, attack, camera)
    assert "SIGNER_UNTRUSTED" not in after.reason_codes, after.reasons
    # the kiosk's unsigned capture is refused on B now
    card = cluster.card("howard")
    kiosk_camera = SimulatedCamera(photos(cluster, card))
    with cluster.client("signing-kiosk", "b") as kiosk:
        challenge = kiosk.begin(terminal_kind="kiosk")
        frames = kiosk_camera.burst(challenge.liveness_actions, start_ms=now_ms())
        chip = SimulatedChip.from_dump(card)
        unsigned = kiosk.verify(
            challenge,
            chip_files=read_chip_files(card),
            aa_signatures=chip.answer_challenge(challenge.aa_challenge),
            frames=frames,
        )
        assert unsigned.reason_codes == ["TERMINAL_SIGNATURE_INVALID"]
        challenge = kiosk.begin(terminal_kind="kiosk")
        frames = kiosk_camera.burst(challenge.liveness_actions, start_ms=now_ms())
        signed = kiosk.verify(
            challenge,
            chip_files=read_chip_files(card),
            aa_signatures=chip.answer_challenge(challenge.aa_challenge),
            frames=frames,
            sign_frames=lambda payload: key.sign(payload, ec.ECDSA(hashes.SHA256())),
            key_id="signing-kiosk",
        )
    assert "TERMINAL_SIGNATURE_INVALID" not in signed.reason_codes, signed.reasons


def test_a_certificate_revoked_on_one_replica_is_refused_by_another(cluster: Cluster) -> None:
    cert_path, _ = add_terminal(
        cluster.home / "pki",
        TerminalIdentity("stolen-kiosk", "01001", "hospital-checkin", "kiosk"),  # type: ignore[arg-type]
    )
    with cluster.client("stolen-kiosk", "b") as kiosk:
        kiosk.begin(terminal_kind="kiosk")  # served before
    with cluster.client("admin-01", "a") as admin:
        assert not admin.revoke_certificate(cert_path.read_bytes(), "device_lost").already_revoked
    deadline = time.monotonic() + 5.0
    refused: GatewayError | None = None
    while refused is None and time.monotonic() < deadline:
        try:
            with cluster.client("stolen-kiosk", "b") as kiosk:
                kiosk.begin(terminal_kind="kiosk")
            time.sleep(0.2)
        except GatewayError as exc:
            refused = exc
    assert refused is not None, "replica b still serves a certificate revoked on a after 5 s"
    assert refused.code == "UNAUTHENTICATED" and "revoked" in refused.message


def test_connections_killed_give_unavailable_then_recover(cluster: Cluster) -> None:
    import psycopg

    card = cluster.card("obama")
    camera = SimulatedCamera(photos(cluster, card))
    name = cluster.url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert killed is not None and killed[0] > 0
    outcomes: list[str] = []
    with cluster.client("burst-desk", "a") as a:
        for _ in range(15):
            try:
                outcomes.append(desk_check(a, a, card, camera).decision)
            except GatewayError as exc:
                outcomes.append(exc.code)
            if outcomes[-3:] == ["ACCEPTED"] * 3:
                break
    assert set(outcomes) <= {"ACCEPTED", "REVIEW", "UNAVAILABLE"}, outcomes  # never INTERNAL
    assert outcomes[-3:] == ["ACCEPTED"] * 3, outcomes


def test_kill_one_replica_mid_burst(cluster: Cluster) -> None:
    """The SDK moves to the survivors, every acceptance a client saw has its audit record, every
    spent challenge gets one (the sweep records the dead replica's), and the chain verifies."""
    third = cluster.start("c")
    card = cluster.card("obama")
    camera = SimulatedCamera(photos(cluster, card))
    accepted: list[str] = []
    errors: list[str] = []
    with cluster.client("burst-desk", "a", "b", "c") as client:
        for i in range(24):
            if i == 6:
                third.kill()
            try:
                result = desk_check(client, client, card, camera)
            except GatewayError as exc:
                errors.append(exc.code)
                continue
            if result.decision == "ACCEPTED":
                accepted.append(result.verification_id)
    assert len(accepted) >= 15, (accepted, errors)
    assert set(errors) <= {"UNAVAILABLE", "CANCELLED"}, errors
    store = cluster.store()
    try:
        assert all(store.audit_record_exists(vid) for vid in accepted)
        deadline = time.monotonic() + 30
        while store.unrecorded_challenges(dt.datetime.now(dt.UTC)) and time.monotonic() < deadline:
            time.sleep(1)
        left = store.unrecorded_challenges(dt.datetime.now(dt.UTC))
        assert left == [], f"{len(left)} spent challenges without a record"
    finally:
        store.close()
    with cluster.client("admin-01", "a", "b") as admin:
        chain = admin.verify_audit()
    assert chain.ok, chain.detail


def test_a_replica_with_the_wrong_master_key_refuses_to_start(cluster: Cluster, tmp_path: Path) -> None:
    from bhytgate.service.cluster import new_master_key_file

    wrong = tmp_path / "wrong.key"
    new_master_key_file(wrong)
    proc = subprocess.run(
        cluster.serve_args("wrong", master=wrong), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(
        "bhytgate serve: error: cannot join the cluster: the master key does not match"
    )
    assert "Traceback" not in proc.stderr


def test_a_replica_with_another_configuration_refuses_to_start(cluster: Cluster, tmp_path: Path) -> None:
    home = tmp_path / "other"
    home.mkdir()
    (home / "gateway.toml").write_text("[policy]\nmismatch_lock_threshold = 9\n", encoding="utf-8")
    args = cluster.serve_args("other")
    args[args.index("--home") + 1] = str(home)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "configuration differs" in proc.stderr and "Traceback" not in proc.stderr


def test_one_payment_reference_renews_once_across_replicas(cluster: Cluster) -> None:
    """Two counters' calls with the same payment reference, at the same moment, on two replicas:
    one renewal, one receipt (issue 15)."""
    from bhytgate.entitlement.model import Entitlement

    today = dt.datetime.now(dt.UTC).date()
    cards = [
        Entitlement(
            card_number=f"GD4797916000{n:03d}",
            social_insurance_number=f"7916000{n:03d}",
            cccd_number=f"079160000{n:03d}",
            full_name=f"Thành viên {n}",
            date_of_birth="01/01/1980",
            sex="Nam",
            address="1 Lê Lợi, TP Hồ Chí Minh",
            beneficiary_group="GD",
            benefit_code=4,
            province_code="79",
            registered_facility="79014",
            registered_facility_name="Bệnh viện Quận 1",
            issuing_office="BHXH Quận 1",
            valid_from=today - dt.timedelta(days=300),
            valid_to=today + dt.timedelta(days=60),
        )
        for n in (1, 2, 3)
    ]
    store = cluster.store()
    store.upsert_entitlements(cards)
    members = [c.cccd_number or "" for c in cards]
    card = cluster.card("amy")
    with cluster.client("counter-01", "a") as a, cluster.client("counter-01", "b") as b:
        payer = desk_check(a, a, card, SimulatedCamera(photos(cluster, card)))
        assert payer.checks["FACE_MATCH"] == "PASSED", payer.reasons
        for round_ in range(3):
            ref = f"CASH-CLUSTER-{round_}"
            barrier = threading.Barrier(2)

            def renew(client: GatewayClient, r: str = ref, gate: threading.Barrier = barrier) -> object:
                gate.wait()
                return client.renew_household(payer.verification_id, members, 3, r, OPERATOR)

            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                results = list(pool.map(renew, [a, b]))
            assert sorted(r.replayed for r in results) == [False, True]  # type: ignore[attr-defined]
            assert results[0].receipt == results[1].receipt  # type: ignore[attr-defined]
    # three 3-month renewals, each once: the card ends 9 months (and no more) after its old end
    from bhytgate.household.validity import period_end

    expected = cards[0].valid_to
    assert expected is not None
    for _ in range(3):
        expected = period_end(expected + dt.timedelta(days=1), 3)
    assert store.entitlement_by_card(cards[0].card_number).valid_to == expected  # type: ignore[union-attr]
    with cluster.client("admin-01", "b") as admin:
        assert admin.verify_audit().ok

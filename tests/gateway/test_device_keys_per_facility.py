"""Terminal device keys are bound to (terminal id, facility), over the real gRPC socket: two
facilities each run a terminal called `twin-desk` (certificates of the same CA), each facility's
admin registers a key for its own, and neither terminal can sign with the other's key."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.pki.devca import PkiLayout, TerminalIdentity, add_terminal, issue_terminal_cert, load_ca
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import read_chip_files
from bhytgate_clients.sdk import GatewayClient, VerificationResult

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import OPERATOR

TWIN = "twin-desk"


def _public(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _twin_at_79014(d: Deployment, folder: Path) -> GatewayClient:
    """A second `twin-desk`, of facility 79014: its certificate outside the dev PKI's folder
    (which holds one certificate per terminal id)."""
    key, cert = issue_terminal_cert(
        load_ca(d.home / "pki"), TerminalIdentity(TWIN, "79014", "hospital-checkin", "desk")
    )  # type: ignore[arg-type]
    (folder / "twin.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (folder / "twin.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return GatewayClient.connect(
        f"127.0.0.1:{d.running.port}",
        terminal_id=TWIN,
        ca=PkiLayout(d.home / "pki").ca_cert,
        cert=folder / "twin.pem",
        key=folder / "twin.key",
        timeout_s=60,
    )


def _check(
    d: Deployment,
    desk: GatewayClient,
    person: tuple[Path, list[Path]],
    signer: ec.EllipticCurvePrivateKey | None,
) -> VerificationResult:
    card, photos = person
    camera = SimulatedCamera(photos)
    challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
    frames = camera.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    signing: dict[str, object] = {}
    if signer is not None:
        signing = {
            "sign_frames": lambda payload: signer.sign(payload, ec.ECDSA(hashes.SHA256())),
            "key_id": TWIN,
        }
    return desk.verify(
        challenge,
        chip_files=read_chip_files(card),
        aa_signatures=SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge),
        frames=frames,
        operator=OPERATOR,
        **signing,  # type: ignore[arg-type]
    )


def test_a_facilitys_device_key_binds_its_own_terminal_only(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    if not (d.home / "pki" / "terminals" / f"{TWIN}.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity(TWIN, "01001", "hospital-checkin", "desk"))  # type: ignore[arg-type]
    admin_b = "admin-79014-keys-" + secrets.token_hex(2)
    add_terminal(d.home / "pki", TerminalIdentity(admin_b, "79014", "admin", "desk"))  # type: ignore[arg-type]
    key_a, key_b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    # People of this test's own: each checked in at one facility only (no velocity rule).
    person_a = fresh_card(d, tmp_path / "a", "device-keys-test-a")
    person_b = fresh_card(d, tmp_path / "b", "device-keys-test-b", face="biden")

    with d.client("admin-01") as admin:  # facility 01001 registers its twin-desk's key
        admin.register_terminal_key(TWIN, _public(key_a))
    with d.client(TWIN) as twin_a, _twin_at_79014(d, tmp_path) as twin_b:
        # A's key does not bind B's terminal of the same id: B signs nothing and is accepted...
        unsigned = _check(d, twin_b, person_b, None)
        assert unsigned.decision == "ACCEPTED", unsigned.reasons
        # ...and cannot use A's key (it is not B's: B has none yet).
        stolen = _check(d, twin_b, person_b, key_a)
        assert stolen.reason_codes == ["TERMINAL_SIGNATURE_INVALID"], stolen.reasons
        with d.client(admin_b) as admin:  # facility 79014 registers its own twin-desk's key
            admin.register_terminal_key(TWIN, _public(key_b))
        # B's registration did not replace A's: each terminal only with its own facility's key.
        assert _check(d, twin_a, person_a, key_a).decision == "ACCEPTED"
        assert _check(d, twin_a, person_a, key_b).reason_codes == ["TERMINAL_SIGNATURE_INVALID"]
        assert _check(d, twin_b, person_b, key_b).decision == "ACCEPTED"
        assert _check(d, twin_a, person_a, None).reason_codes == ["TERMINAL_SIGNATURE_INVALID"]

"""The Node.js client (clients/node) against the real gateway: Begin → Verify over mTLS from Node,
the decision, and the attestation verified in Node (node:crypto) against GetAttestationKeys.

Needs `node` (18+) and `npm`; skipped, saying so, when they are missing. `npm ci` runs here when
clients/node/node_modules is missing or older than package-lock.json: it needs the npm registry,
and a failure FAILS the test (a broken lock file must not pass as a skip).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bhytgate.api.signing import frames_signing_payload
from bhytgate.attestation import AttestationStatus, verify_attestation

from .conftest import Deployment

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "clients" / "node"
CHECKIN = NODE_DIR / "checkin.js"


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node.js client test (Node.js 18+)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"the Node.js client needs Node.js 18+, found {version}")
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            output = f"{proc.stdout}\n{proc.stderr}"
            pytest.fail(f"npm ci failed in {NODE_DIR} (exit {proc.returncode}):\n{output}")
    return node


def checkin(node: str, d: Deployment, card: Path, frame: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    args = ["--home", str(d.home), "--card", str(card), "--frame", str(frame), "--json", *extra]
    proc = subprocess.run(
        [node, str(CHECKIN), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


def live_photo(card: Path) -> Path:
    """The holder's other photo (not the one in DG2): what the camera at the desk would see."""
    return Path(json.loads((card / "card.json").read_text(encoding="utf-8"))["live_photo"])


def node_eval(node: str, script: str, stdin: str) -> Any:
    proc = subprocess.run(
        [node, "-e", script], cwd=NODE_DIR, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _node_verdicts(node: str, tokens: dict[str, str], jwks: str) -> dict[str, str]:
    """The Node client's verifyAttestation status for each token."""
    out = node_eval(
        node,
        "const {verifyAttestation} = require('./lib/client');"
        "const {tokens, jwks} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = {};"
        "for (const [k, t] of Object.entries(tokens)) out[k] = verifyAttestation(t, jwks).status;"
        "console.log(JSON.stringify(out));",
        json.dumps({"tokens": tokens, "jwks": jwks}),
    )
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize("identity", ["obama", "biden"])  # an RSA chip (ISO/IEC 9796-2) and an EC chip
def test_node_checkin_is_accepted_and_its_attestation_verifies_in_node(
    node: str, deployment: Deployment, identity: str
) -> None:
    card = deployment.card(identity)
    rc, out = checkin(node, deployment, card, live_photo(card))
    assert rc == 0, out
    assert out["decision"] == "ACCEPTED", out["reasons"]
    assert out["reasons"] == []
    assert out["assurance_level"] == "CHIP_FACE"  # a desk: one frame, no liveness challenge
    # The chip's answer computed in Node passed the gateway's Active Authentication.
    assert out["checks"]["ACTIVE_AUTH"] == "PASSED"
    expected = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    assert out["entitlement"]["ma_the"] == expected["card_number"]
    assert out["attestation_verified"] is True and out["attestation_status"] == "ok"
    claims = out["attestation_claims"]
    assert claims["jti"] == out["verification_id"] and claims["terminal"] == "desk-01"
    assert claims["ma_the"] == expected["card_number"]

    # Node's verdict is the gateway's own verifier's.
    with deployment.client("desk-01") as client:
        jwks = client.attestation_keys()
    verdict = verify_attestation(out["attestation"], jwks, dt.datetime.now(dt.UTC))
    assert verdict.status is AttestationStatus.OK, verdict
    head, payload, sig = out["attestation"].split(".")

    def altered(text: str) -> str:
        # Change the second-to-last base64url character: its 6 bits are all data, so the decoded
        # bytes change. (Overwriting the tail with "AA" left a value already ending in "AA" as it
        # was, and such a signature verified: a 1-in-256 flake seen in CI.)
        return text[:-2] + ("B" if text[-2] != "B" else "C") + text[-1]

    tampered = {
        "payload": f"{head}.{altered(payload)}.{sig}",
        "signature": f"{head}.{payload}.{altered(sig)}",
        "no_signature": f"{head}.{payload}.",
    }
    verdicts = _node_verdicts(node, tampered, jwks)
    assert verdicts == {"payload": "bad_signature", "signature": "bad_signature", "no_signature": "malformed"}


def test_someone_elses_face_is_rejected_with_face_mismatch(node: str, deployment: Deployment) -> None:
    card = deployment.card("obama")
    rc, out = checkin(node, deployment, card, deployment.faces / "face_recognition/examples/biden.jpg")
    assert rc == 1
    assert out["decision"] == "REJECTED"
    assert [r["code"] for r in out["reasons"]] == ["FACE_MISMATCH"], out["reasons"]
    assert out["face_distance"] > out["face_threshold"]
    assert out["entitlement"] is None and out["attestation"] is None
    assert out["attestation_verified"] is False


def test_the_terminal_signature_payload_is_the_gateways(node: str) -> None:
    """clients/node's signingPayload, written from the proto's comment, is byte for byte the gateway's."""
    nonce = bytes(range(16))
    frames = [(b"\xff\xd8first frame", 1_796_000_000_000), (b"\x89PNG second", 1_796_000_000_123)]
    got = node_eval(
        node,
        "const {signingPayload} = require('./lib/client');"
        "const {nonce, frames} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const payload = signingPayload(Buffer.from(nonce, 'hex'),"
        " frames.map(([image, ts]) => ({image: Buffer.from(image, 'hex'), timestampMs: ts})));"
        "console.log(JSON.stringify(payload.toString('hex')));",
        json.dumps({"nonce": nonce.hex(), "frames": [[image.hex(), ts] for image, ts in frames]}),
    )
    assert bytes.fromhex(got) == frames_signing_payload(nonce, frames)


def test_the_aa_challenge_is_derived_from_the_nonce_as_documented(node: str, deployment: Deployment) -> None:
    """The proto says aa_challenge = SHA-256("bhytgate.v1.aa-challenge\\n" || nonce); a Node Begin
    over mTLS shows it (terminals need not derive it: this is the auditor's check)."""
    pki = deployment.home / "pki"
    address = json.loads((deployment.home / "gateway.json").read_text(encoding="utf-8"))["address"]
    got = node_eval(
        node,
        "const crypto = require('crypto'); const {GatewayClient} = require('./lib/client');"
        "const o = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const c = GatewayClient.connect({address: o.address, terminalId: 'desk-01',"
        " ca: o.pki + '/ca.pem', cert: o.pki + '/terminals/desk-01.pem',"
        " key: o.pki + '/terminals/desk-01.key'});"
        "c.begin({terminalKind: 'desk', operator: {fullName: 'Lê Thu Hà', cccdNumber: '001185000123'}})"
        ".then((ch) => { c.close(); console.log(JSON.stringify({nonce: ch.nonce.length,"
        " aa: ch.aaChallenge.length, derived: crypto.createHash('sha256')"
        ".update('bhytgate.v1.aa-challenge\\n').update(ch.nonce).digest().equals(ch.aaChallenge)})); })"
        ".catch((e) => { console.error(e.message); process.exit(2); });",
        json.dumps({"address": address, "pki": str(pki)}),
    )
    assert got == {"nonce": 32, "aa": 32, "derived": True}


def test_node_refuses_an_attestation_spelled_non_canonically(node: str) -> None:
    """Attack run: the signature's last character with its unused bits set decodes to the same
    bytes (Buffer.from is lenient), so one attestation verified under sixteen spellings, each a
    different attestation id. Node holds it to the one canonical spelling, as the Python SDK does."""
    from bhytgate.attestation import AttestationClaims, generate_key, jwks_json, sign_attestation

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    key = generate_key()
    claims = AttestationClaims(
        "bhytgate-dev-01", "ver-1", "01001", "desk-01", ("face",), "chip_face", "DN4010123456789",
        "ACCEPTED", now, now + dt.timedelta(days=7),
    )  # fmt: skip
    token = sign_attestation(claims, key)
    head, payload, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]  # 86 characters: 4 unused bits
    tokens = {"canonical": token, "respelled": f"{head}.{payload}.{respelled}"}
    verdicts = _node_verdicts(node, tokens, jwks_json([key.public_key()]))
    assert verdicts == {"canonical": "ok", "respelled": "malformed"}

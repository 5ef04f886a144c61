"""Attestation JWS: roundtrip, and every way a forged or stale token must be refused."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import stat
from pathlib import Path

import jwt
import pytest

from bhytgate.attestation import (
    ATTESTATION_TYP,
    AttestationClaims,
    AttestationStatus,
    generate_key,
    jwk_thumbprint,
    jwks_json,
    load_or_create_key,
    load_private_key,
    public_jwk,
    save_private_key,
    sign_attestation,
    verify_attestation,
)

NOW = dt.datetime(2025, 3, 3, 7, 30, tzinfo=dt.UTC)
KEY = generate_key()
JWKS = jwks_json([KEY.public_key()])
CLAIMS = AttestationClaims(
    issuer="bhytgate-dev-01",
    verification_id="ver-0001",
    facility="01001",
    terminal_id="kiosk-7",
    checks_passed=("chip_passive", "chip_aa", "face", "liveness", "entitlement"),
    assurance_level="chip_aa_face_liveness",
    card_number="DN4010123456789",
    decision="ACCEPTED",
    issued_at=NOW,
    expires_at=NOW + dt.timedelta(days=30),
)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_roundtrip() -> None:
    token = sign_attestation(CLAIMS, KEY)
    res = verify_attestation(token, JWKS, NOW + dt.timedelta(hours=1), issuer="bhytgate-dev-01")
    assert res.ok and res.claims == CLAIMS
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": ATTESTATION_TYP, "kid": public_jwk(KEY.public_key())["kid"]}


def test_operator_only_when_present() -> None:
    assert "operator" not in jwt.decode(sign_attestation(CLAIMS, KEY), options={"verify_signature": False})
    with_op = dataclasses.replace(CLAIMS, operator="Trần Thị B")
    res = verify_attestation(sign_attestation(with_op, KEY), JWKS, NOW)
    assert res.ok and res.claims is not None and res.claims.operator == "Trần Thị B"


def test_tampered_payload_fails() -> None:
    h, p, s = sign_attestation(CLAIMS, KEY).split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=="))
    payload["ma_the"] = "HT3790000000001"
    forged = ".".join([h, b64u(json.dumps(payload).encode()), s])
    assert verify_attestation(forged, JWKS, NOW).status is AttestationStatus.BAD_SIGNATURE


def test_wrong_key_fails() -> None:
    other = generate_key()
    token = sign_attestation(CLAIMS, other)
    assert verify_attestation(token, JWKS, NOW).status is AttestationStatus.UNKNOWN_KEY
    # ...and also when the attacker reuses our kid in the header
    kid = public_jwk(KEY.public_key())["kid"]
    forged = jwt.encode(
        CLAIMS.to_payload(), other, algorithm="ES256", headers={"kid": kid, "typ": ATTESTATION_TYP}
    )
    assert verify_attestation(forged, JWKS, NOW).status is AttestationStatus.BAD_SIGNATURE


def test_expired_and_not_yet_valid() -> None:
    token = sign_attestation(CLAIMS, KEY)
    assert verify_attestation(token, JWKS, NOW + dt.timedelta(days=31)).status is AttestationStatus.EXPIRED
    assert (
        verify_attestation(token, JWKS, NOW - dt.timedelta(hours=1)).status is AttestationStatus.NOT_YET_VALID
    )
    assert verify_attestation(token, JWKS, NOW - dt.timedelta(seconds=30)).ok  # within leeway


def test_wrong_issuer() -> None:
    token = sign_attestation(CLAIMS, KEY)
    assert (
        verify_attestation(token, JWKS, NOW, issuer="someone-else").status is AttestationStatus.WRONG_ISSUER
    )


def test_alg_none_refused() -> None:
    kid = public_jwk(KEY.public_key())["kid"]
    header = b64u(json.dumps({"alg": "none", "typ": ATTESTATION_TYP, "kid": kid}).encode())
    body = b64u(json.dumps(CLAIMS.to_payload()).encode())
    for token in (f"{header}.{body}.", f"{header}.{body}"):
        assert verify_attestation(token, JWKS, NOW).status in {
            AttestationStatus.UNSUPPORTED_ALGORITHM,
            AttestationStatus.MALFORMED,
        }
    assert (
        verify_attestation(f"{header}.{body}.", JWKS, NOW).status is AttestationStatus.UNSUPPORTED_ALGORITHM
    )


def test_hs256_key_confusion_refused() -> None:
    """HMAC keyed with the public key material (JWK JSON, PEM, raw point): all refused by alg."""
    kid = public_jwk(KEY.public_key())["kid"]
    from cryptography.hazmat.primitives import serialization

    secrets_to_try = [
        JWKS.encode(),
        json.dumps(public_jwk(KEY.public_key())).encode(),
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        KEY.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ),
    ]
    header = b64u(json.dumps({"alg": "HS256", "typ": ATTESTATION_TYP, "kid": kid}).encode())
    body = b64u(json.dumps(CLAIMS.to_payload()).encode())
    for secret in secrets_to_try:
        sig = b64u(hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
        res = verify_attestation(f"{header}.{body}.{sig}", JWKS, NOW)
        assert res.status is AttestationStatus.UNSUPPORTED_ALGORITHM


def test_garbage_and_bad_jwks() -> None:
    token = sign_attestation(CLAIMS, KEY)
    assert verify_attestation("not.a.jwt", JWKS, NOW).status is AttestationStatus.MALFORMED
    assert verify_attestation("", JWKS, NOW).status is AttestationStatus.MALFORMED
    assert verify_attestation(token, "{", NOW).status is AttestationStatus.BAD_JWKS
    assert verify_attestation(token, '{"keys": 3}', NOW).status is AttestationStatus.BAD_JWKS
    # a JWKS entry whose kid is not its own thumbprint (aliasing someone else's kid)
    jwk = public_jwk(generate_key().public_key())
    jwk["kid"] = public_jwk(KEY.public_key())["kid"]
    assert verify_attestation(token, json.dumps({"keys": [jwk]}), NOW).status is AttestationStatus.BAD_JWKS


def test_a_deeply_nested_header_is_malformed_not_an_exception() -> None:
    """Review 2026-12-02: a header of 1500 nested arrays made json raise RecursionError, which
    escaped the verifiers (an INTERNAL from VerifyAuditChain, a traceback in a relying party)."""
    from bhytgate_client.checkpoint import CheckpointError, verify_checkpoint

    header = base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode()
    token = f"{header}.e30.AA"
    assert verify_attestation(token, JWKS, NOW).status is AttestationStatus.MALFORMED
    with pytest.raises(CheckpointError, match="not a compact JWS"):
        verify_checkpoint(token, JWKS)


def test_missing_claim() -> None:
    payload = CLAIMS.to_payload()
    del payload["ma_the"]
    kid = public_jwk(KEY.public_key())["kid"]
    token = jwt.encode(payload, KEY, algorithm="ES256", headers={"kid": kid, "typ": ATTESTATION_TYP})
    res = verify_attestation(token, JWKS, NOW)
    assert res.status is AttestationStatus.MISSING_CLAIM and "ma_the" in res.detail


def test_key_rotation_jwks_with_two_keys() -> None:
    new = generate_key()
    both = jwks_json([new.public_key(), KEY.public_key()])
    assert verify_attestation(sign_attestation(CLAIMS, KEY), both, NOW).ok
    assert verify_attestation(sign_attestation(CLAIMS, new), both, NOW).ok


def test_thumbprint_is_rfc7638() -> None:
    jwk = public_jwk(KEY.public_key())
    members = json.dumps({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]}, separators=(",", ":"))
    assert members.startswith('{"crv":"P-256","kty":"EC","x":"')
    assert jwk["kid"] == b64u(hashlib.sha256(members.encode()).digest()) == jwk_thumbprint(jwk)
    assert len(jwk["kid"]) == 43


def test_key_files(tmp_path: Path) -> None:
    path = tmp_path / "attest.key"
    save_private_key(KEY, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_private_key(path).private_numbers() == KEY.private_numbers()
    created = load_or_create_key(tmp_path / "new.key")
    assert stat.S_IMODE((tmp_path / "new.key").stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path / "new.key").private_numbers() == created.private_numbers()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.key").write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError):
        load_private_key(tmp_path / "p384.key")

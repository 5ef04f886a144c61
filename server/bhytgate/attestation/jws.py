"""Signed attestations for released entitlements: compact JWS, ES256 (P-256), kid = RFC 7638 thumbprint.

The hospital keeps the token with its claim; an insurance auditor verifies it offline against the
gateway's published JWKS. The claims and the verifier are the client SDK's (`bhytgate_client.attestation`,
cryptography only), so that a hospital checks tokens with exactly the code the gateway's tests check
them with; re-exported here. The verifier accepts exactly one algorithm (ES256) and only EC P-256 keys
from the JWKS, so `alg: none` and the HS256-with-the-public-key confusion are refused before any crypto.
Claims carry what was verified, where and when, and the card number; never biometrics. Signing
(PyJWT) and the gateway's keys are here.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate_client.attestation import ALGORITHM as ALGORITHM
from bhytgate_client.attestation import ATTESTATION_TYP as ATTESTATION_TYP
from bhytgate_client.attestation import AttestationCheck as AttestationCheck
from bhytgate_client.attestation import AttestationClaims as AttestationClaims
from bhytgate_client.attestation import AttestationStatus as AttestationStatus
from bhytgate_client.attestation import jwk_thumbprint as jwk_thumbprint
from bhytgate_client.attestation import verify_attestation as verify_attestation


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- keys ------------------------------------------------------------------------------------------


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def save_private_key(key: ec.EllipticCurvePrivateKey, path: str | os.PathLike[str]) -> None:
    """PKCS#8 PEM, created 0600 (never world-readable, not even for an instant)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)


def load_private_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("attestation key must be an EC P-256 private key")
    return key


def load_or_create_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePrivateKey:
    """Dev convenience: the first start creates the key, later starts reuse it."""
    if Path(path).exists():
        return load_private_key(path)
    key = generate_key()
    save_private_key(key, path)
    return key


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """JWK of a P-256 public key with its RFC 7638 thumbprint as kid."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("only P-256 keys are supported")
    nums = public_key.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64u(nums.x.to_bytes(32, "big")),
        "y": _b64u(nums.y.to_bytes(32, "big")),
    }
    return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": ALGORITHM}


def jwks_json(public_keys: Sequence[ec.EllipticCurvePublicKey]) -> str:
    """The document to publish; list old keys next to the new one while old tokens may still be checked."""
    return json.dumps({"keys": [public_jwk(k) for k in public_keys]}, sort_keys=True)


# -- signing ---------------------------------------------------------------------------------------


def sign_attestation(claims: AttestationClaims, key: ec.EllipticCurvePrivateKey) -> str:
    if claims.expires_at <= claims.issued_at:
        raise ValueError("attestation must expire after it is issued")
    kid = public_jwk(key.public_key())["kid"]
    return jwt.encode(
        claims.to_payload(), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": ATTESTATION_TYP}
    )

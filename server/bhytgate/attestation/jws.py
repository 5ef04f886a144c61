"""Signed attestations for released entitlements: compact JWS, ES256 (P-256), kid = RFC 7638 thumbprint.

The hospital keeps the token with its claim; an insurance auditor verifies it offline against the
gateway's published JWKS. The verifier accepts exactly one algorithm (ES256) and only EC P-256 keys from
the JWKS, so `alg: none` and the HS256-with-the-public-key confusion are refused before any crypto.
Claims carry what was verified, where and when, and the card number; never biometrics.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
ATTESTATION_TYP = "bhytgate-attestation+jwt"
_REQUIRED = (
    "iss",
    "iat",
    "exp",
    "jti",
    "facility",
    "terminal",
    "checks",
    "assurance_level",
    "ma_the",
    "decision",
)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, lexicographic order, no whitespace."""
    required = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    return _b64u(hashlib.sha256(canonical).digest())


def jwks_json(public_keys: Sequence[ec.EllipticCurvePublicKey]) -> str:
    """The document to publish; list old keys next to the new one while old tokens may still be checked."""
    return json.dumps({"keys": [public_jwk(k) for k in public_keys]}, sort_keys=True)


def _key_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not an EC P-256 key")
    x, y = _b64u_decode(str(jwk["x"])), _b64u_decode(str(jwk["y"]))
    if len(x) != 32 or len(y) != 32:
        raise ValueError("bad coordinate length")
    # from_encoded_point validates that the point is on the curve
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


# -- claims ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AttestationClaims:
    """What the gateway vouches for. `operator` is a staff name, included only when one was present."""

    issuer: str
    verification_id: str
    facility: str
    terminal_id: str
    checks_passed: tuple[str, ...]
    assurance_level: str
    card_number: str  # ma_the: the hospital already holds it and files the attestation with its claim
    decision: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    operator: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
            "jti": self.verification_id,
            "facility": self.facility,
            "terminal": self.terminal_id,
            "checks": list(self.checks_passed),
            "assurance_level": self.assurance_level,
            "ma_the": self.card_number,
            "decision": self.decision,
        }
        if self.operator:
            payload["operator"] = self.operator
        return payload

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> AttestationClaims:
        return cls(
            issuer=str(p["iss"]),
            verification_id=str(p["jti"]),
            facility=str(p["facility"]),
            terminal_id=str(p["terminal"]),
            checks_passed=tuple(str(c) for c in p["checks"]),
            assurance_level=str(p["assurance_level"]),
            card_number=str(p["ma_the"]),
            decision=str(p["decision"]),
            issued_at=dt.datetime.fromtimestamp(int(p["iat"]), dt.UTC),
            expires_at=dt.datetime.fromtimestamp(int(p["exp"]), dt.UTC),
            operator=None if p.get("operator") is None else str(p["operator"]),
        )


def sign_attestation(claims: AttestationClaims, key: ec.EllipticCurvePrivateKey) -> str:
    if claims.expires_at <= claims.issued_at:
        raise ValueError("attestation must expire after it is issued")
    kid = public_jwk(key.public_key())["kid"]
    return jwt.encode(
        claims.to_payload(), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": ATTESTATION_TYP}
    )


# -- verification ----------------------------------------------------------------------------------


class AttestationStatus(enum.StrEnum):
    OK = "ok"
    MALFORMED = "malformed"
    BAD_JWKS = "bad_jwks"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIM = "missing_claim"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_ISSUER = "wrong_issuer"


@dataclasses.dataclass(frozen=True, slots=True)
class AttestationCheck:
    status: AttestationStatus
    claims: AttestationClaims | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is AttestationStatus.OK


def verify_attestation(
    token: str,
    jwks: str,
    now: dt.datetime,
    *,
    issuer: str | None = None,
    leeway: dt.timedelta = dt.timedelta(seconds=60),
) -> AttestationCheck:
    """Offline check for the hospital or an auditor; every failure has its own status."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        return AttestationCheck(AttestationStatus.MALFORMED, detail=str(exc))
    if header.get("alg") != ALGORITHM:
        return AttestationCheck(AttestationStatus.UNSUPPORTED_ALGORITHM, detail=f"alg {header.get('alg')!r}")
    if header.get("typ") != ATTESTATION_TYP:
        return AttestationCheck(AttestationStatus.MALFORMED, detail="wrong typ header")
    try:
        keys = json.loads(jwks)["keys"]
        if not isinstance(keys, list):
            raise TypeError("keys is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        return AttestationCheck(AttestationStatus.BAD_JWKS, detail=str(exc))
    kid = header.get("kid")
    candidates = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
    if not isinstance(kid, str) or len(candidates) != 1:
        return AttestationCheck(AttestationStatus.UNKNOWN_KEY, detail="kid not in JWKS exactly once")
    jwk = candidates[0]
    try:
        public_key = _key_from_jwk(jwk)
        # The published kid must be the key's own thumbprint: a JWKS cannot alias one kid to another key.
        if jwk_thumbprint(jwk) != kid:
            raise ValueError("kid is not the key's thumbprint")
    except (ValueError, KeyError) as exc:
        return AttestationCheck(AttestationStatus.BAD_JWKS, detail=str(exc))
    try:
        payload = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_iss": False},
        )
    except jwt.InvalidSignatureError:
        return AttestationCheck(AttestationStatus.BAD_SIGNATURE)
    except jwt.PyJWTError as exc:
        return AttestationCheck(AttestationStatus.MALFORMED, detail=str(exc))
    missing = [c for c in _REQUIRED if c not in payload]
    if missing:
        return AttestationCheck(AttestationStatus.MISSING_CLAIM, detail=", ".join(missing))
    try:
        claims = AttestationClaims.from_payload(payload)
    except (ValueError, TypeError, OverflowError) as exc:
        return AttestationCheck(AttestationStatus.MALFORMED, detail=str(exc))
    if claims.issued_at > now + leeway:
        return AttestationCheck(AttestationStatus.NOT_YET_VALID, claims)
    if claims.expires_at <= now - leeway:
        return AttestationCheck(AttestationStatus.EXPIRED, claims)
    if issuer is not None and claims.issuer != issuer:
        return AttestationCheck(AttestationStatus.WRONG_ISSUER, claims)
    return AttestationCheck(AttestationStatus.OK, claims)

"""Offline verification of the gateway's attestations (compact JWS, ES256), with `cryptography` only.

An ACCEPTED Verify carries `attestation`; the hospital files it with its claim, and an auditor checks
it later against a JWKS fetched with GetAttestationKeys (`GatewayClient.attestation_keys()`), kept
with its date. The steps are docs/integration.md section 6: exactly one algorithm (ES256) and only
EC P-256 keys from the JWKS, so `alg: none` and HS256-keyed-with-the-public-key are refused before
any cryptography; the `kid` must appear once and be its key's RFC 7638 thumbprint.

    check = verify_attestation(result.attestation, jwks_json, issuer="bhytgate-dev")
    if check.ok: file(check.claims)

This is also the gateway's own verifier (`bhytgate.attestation` re-exports it), and the claims are
defined here for both: what the gateway signs is what this module reads.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALGORITHM = "ES256"
ATTESTATION_TYP = "bhytgate-attestation+jwt"
REQUIRED_CLAIMS = (
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


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode_strict(text: str) -> bytes:
    """base64url as RFC 7515 writes it: its alphabet only, no padding, and the one spelling of the
    bytes (a last character with unused bits set decodes to the same bytes). A token's id is the
    hash of its text, so a second spelling of one signed token would be a second token. ValueError
    (a precise message) otherwise; every JWS-like token the gateway and this SDK verify uses it."""
    if "=" in text:
        raise ValueError("not base64url: padding '=' is not allowed")
    if _B64URL.fullmatch(text) is None:
        raise ValueError("not base64url: a character outside [A-Za-z0-9_-]")
    if len(text) % 4 == 1:
        raise ValueError("not base64url: a length no encoding has")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # not reached for a string the pattern admits
        raise ValueError("not base64url") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:
        raise ValueError("not canonical base64url: the last character sets unused bits")
    return data


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, lexicographic order, no whitespace."""
    required = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not an EC P-256 key")
    x, y = b64url_decode_strict(str(jwk["x"])), b64url_decode_strict(str(jwk["y"]))
    if len(x) != 32 or len(y) != 32:
        raise ValueError("bad coordinate length")
    # from_encoded_point validates that the point is on the curve
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


@dataclasses.dataclass(frozen=True, slots=True)
class AttestationClaims:
    """What the gateway vouches for. `operator` is a staff name, included only when one was present;
    `reviewer` names the reviewer terminal that accepted a review case, `guardian` the verification
    of the adult who vouched for a child."""

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
    # a review case accepted by this reviewer terminal (the decision was REVIEW before)
    reviewer: str | None = None
    # a child's check-in: the verification id of the guardian verified in the same visit
    guardian: str | None = None

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
        if self.reviewer:
            payload["reviewer"] = self.reviewer
        if self.guardian:
            payload["guardian"] = self.guardian
        return payload

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> AttestationClaims:
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
            reviewer=None if p.get("reviewer") is None else str(p["reviewer"]),
            guardian=None if p.get("guardian") is None else str(p["guardian"]),
        )


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


def _split(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """(header, payload bytes, signature, signing input) of a compact JWS; ValueError if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a compact JWS has three segments")
    try:
        header = json.loads(b64url_decode_strict(parts[0]))
    except RecursionError:  # json's own limit on nesting: an unsigned header of 1500 '['s
        raise ValueError("the header nests too deeply") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return header, b64url_decode_strict(parts[1]), b64url_decode_strict(parts[2]), signing_input


def _es256_valid(key: ec.EllipticCurvePublicKey, signature: bytes, signed: bytes) -> bool:
    """ES256 (RFC 7518 3.4): the signature is r || s, 32 bytes each."""
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


class KeyProblem(ValueError):
    """The JWKS has no usable key for a token's `kid`: `status` says which way."""

    def __init__(self, status: AttestationStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def jwks_key(kid: object, jwks: str) -> ec.EllipticCurvePublicKey:
    """The one P-256 key of the JWKS whose `kid` is `kid` and is its own RFC 7638 thumbprint (a
    JWKS cannot alias one kid to another key); KeyProblem otherwise."""
    try:
        keys = json.loads(jwks)["keys"]
        if not isinstance(keys, list):
            raise TypeError("keys is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyProblem(AttestationStatus.BAD_JWKS, str(exc)) from None
    candidates = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
    if not isinstance(kid, str) or len(candidates) != 1:
        raise KeyProblem(AttestationStatus.UNKNOWN_KEY, "kid not in JWKS exactly once")
    jwk = candidates[0]
    try:
        public_key = public_key_from_jwk(jwk)
        if jwk_thumbprint(jwk) != kid:
            raise ValueError("kid is not the key's thumbprint")
    except (ValueError, KeyError) as exc:
        raise KeyProblem(AttestationStatus.BAD_JWKS, str(exc)) from None
    return public_key


def verify_attestation(
    token: str,
    jwks: str,
    now: dt.datetime | None = None,
    *,
    issuer: str | None = None,
    leeway: dt.timedelta = dt.timedelta(seconds=60),
) -> AttestationCheck:
    """Check a token against a JWKS (`now`: the current time by default); every failure has its status."""
    now = dt.datetime.now(dt.UTC) if now is None else now
    try:
        header, payload_bytes, signature, signed = _split(token)
    except ValueError as exc:  # also JSON and Unicode errors
        return AttestationCheck(AttestationStatus.MALFORMED, detail=str(exc))
    if header.get("alg") != ALGORITHM:
        return AttestationCheck(AttestationStatus.UNSUPPORTED_ALGORITHM, detail=f"alg {header.get('alg')!r}")
    if header.get("typ") != ATTESTATION_TYP:
        return AttestationCheck(AttestationStatus.MALFORMED, detail="wrong typ header")
    try:
        public_key = jwks_key(header.get("kid"), jwks)
    except KeyProblem as exc:
        return AttestationCheck(exc.status, detail=str(exc))
    if not _es256_valid(public_key, signature, signed):
        return AttestationCheck(AttestationStatus.BAD_SIGNATURE)
    try:
        payload = json.loads(payload_bytes)
    except ValueError as exc:
        return AttestationCheck(AttestationStatus.MALFORMED, detail=f"payload: {exc}")
    if not isinstance(payload, dict):
        return AttestationCheck(AttestationStatus.MALFORMED, detail="the payload is not a JSON object")
    missing = [c for c in REQUIRED_CLAIMS if c not in payload]
    if missing:
        return AttestationCheck(AttestationStatus.MISSING_CLAIM, detail=", ".join(missing))
    try:
        claims = AttestationClaims.from_payload(payload)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        return AttestationCheck(AttestationStatus.MALFORMED, detail=str(exc))
    if claims.issued_at > now + leeway:
        return AttestationCheck(AttestationStatus.NOT_YET_VALID, claims)
    if claims.expires_at <= now - leeway:
        return AttestationCheck(AttestationStatus.EXPIRED, claims)
    if issuer is not None and claims.issuer != issuer:
        return AttestationCheck(AttestationStatus.WRONG_ISSUER, claims)
    return AttestationCheck(AttestationStatus.OK, claims)

"""Platform integrity verdicts (in the style of Play Integrity or App Attest): a compact JWS the
platform signs, saying the app is the genuine one on a device that passed the platform's checks.

The gateway trusts only the keys it is configured with (never a key or a key URL named by the
token: `jwk`, `jku`, `x5c`, `x5u` are refused), only the algorithms on the policy's allow-list (and
the one each key is configured for, so no algorithm confusion), and no JWS extension (`crit`,
`b64`). Parsing follows RFC 7515 compact serialisation strictly: three base64url segments without
padding, canonical encodings, JSON objects without duplicate names. The signature is checked with
`cryptography` before any claim is read; then the nonce (bound to the verification's challenge,
compared in constant time), the freshness, and the verdict fields. What a missing or failing token
means is the policy's (`IntegrityPolicy`, immutable).

Pure: no storage, no gRPC.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hmac
import json
import re
import types
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bhytgate.policy.model import Reason
from bhytgate_client.attestation import b64url_decode_strict
from bhytgate_client.integrity import integrity_nonce

SUPPORTED_ALGORITHMS = frozenset({"ES256", "ES384", "RS256", "PS256", "EdDSA"})
MAX_TOKEN_CHARS = 16 * 1024
_DIGITS = re.compile(r"[0-9]{1,15}", re.ASCII)
_KID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
_FORBIDDEN_HEADERS = ("jwk", "jku", "x5c", "x5u", "crit", "b64")


class Disposition(enum.StrEnum):
    """What a token outcome does to the registration."""

    ACCEPT = "accept"
    REVIEW = "review"
    REJECT = "reject"


class Verdict(enum.StrEnum):
    NOT_CONFIGURED = "not_configured"
    VERIFIED = "verified"
    MISSING = "missing"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Strength for re-registration: a verified device beats an unchecked one."""
        return {"verified": 2, "not_configured": 1}.get(self.value, 0)


@dataclasses.dataclass(frozen=True, slots=True)
class IntegrityKey:
    """One platform verification key: its id, the one algorithm it signs with, SPKI PEM."""

    kid: str
    alg: str
    pem: str

    def __post_init__(self) -> None:
        if _KID.fullmatch(self.kid) is None:
            raise ValueError("integrity key id must be 1-128 of A-Z a-z 0-9 . _ : -")
        if self.alg not in SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"integrity key {self.kid}: algorithm must be one of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        _check_key_type(self.alg, self.public_key())

    def public_key(self) -> Any:
        try:
            return serialization.load_pem_public_key(self.pem.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
            raise ValueError(f"integrity key {self.kid}: not a public key in PEM") from exc


def _check_key_type(alg: str, key: Any) -> None:
    ok = {
        "ES256": isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1),
        "ES384": isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1),
        "RS256": isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048,
        "PS256": isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048,
        "EdDSA": isinstance(key, ed25519.Ed25519PublicKey),
    }[alg]
    if not ok:
        raise ValueError(
            f"key type does not fit {alg} (ES256: P-256, ES384: P-384, RS*/PS*: RSA >= 2048, EdDSA: Ed25519)"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class IntegrityPolicy:
    """Where device integrity is configured (`keys` non-empty), what a token must show and what
    each failure means. Frozen; the mappings are read-only views."""

    keys: Mapping[str, IntegrityKey] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    algorithms: frozenset[str] = frozenset({"ES256"})
    max_age: dt.timedelta = dt.timedelta(minutes=5)
    clock_skew: dt.timedelta = dt.timedelta(seconds=10)
    package_names: frozenset[str] = frozenset()
    required_device_verdicts: frozenset[str] = frozenset({"MEETS_DEVICE_INTEGRITY"})
    required_app_verdict: str | None = "PLAY_RECOGNIZED"
    require_licensed: bool = False
    on_missing: Disposition = Disposition.REJECT
    on_invalid: Disposition = Disposition.REJECT  # forged, wrong nonce, stale
    on_verdict_failed: Disposition = Disposition.REVIEW

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", types.MappingProxyType(dict(self.keys)))
        if not self.algorithms <= SUPPORTED_ALGORITHMS or "none" in self.algorithms:
            raise ValueError(f"integrity algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        for kid, key in self.keys.items():
            if kid != key.kid:
                raise ValueError("integrity keys must be keyed by their kid")
            if key.alg not in self.algorithms:
                raise ValueError(f"integrity key {kid}: algorithm {key.alg} is not on the allow-list")
        if self.max_age <= dt.timedelta(0) or self.clock_skew < dt.timedelta(0):
            raise ValueError("integrity max_age must be positive and clock_skew not negative")
        if self.keys and not self.package_names:
            raise ValueError("integrity keys configured without package_names: the app could be any app")

    @property
    def configured(self) -> bool:
        return bool(self.keys)


@dataclasses.dataclass(frozen=True, slots=True)
class IntegrityCheck:
    verdict: Verdict
    disposition: Disposition
    reason: Reason | None = None


class _Failed(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _invalid(detail: str) -> _Failed:
    return _Failed("INTEGRITY_TOKEN_INVALID", detail)


def _b64url(segment: str, what: str) -> bytes:
    try:
        return b64url_decode_strict(segment)
    except ValueError as exc:
        raise _invalid(f"{what}: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate member name")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid(f"{what}: not a JSON object (UTF-8, no duplicate names)") from None
    if not isinstance(value, dict):
        raise _invalid(f"{what}: not a JSON object")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedJws:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact_jws(token: str, algorithms: frozenset[str]) -> ParsedJws:
    """RFC 7515 compact serialisation, strictly; the algorithm must be on `algorithms`."""
    if len(token) > MAX_TOKEN_CHARS:
        raise _invalid(f"longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise _invalid("not a compact JWS (three non-empty base64url parts)")
    header = _json_object(_b64url(parts[0], "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in SUPPORTED_ALGORITHMS:
        raise _invalid("algorithm not allowed")
    for name in _FORBIDDEN_HEADERS:
        if name in header:
            raise _invalid(f"header parameter {name!r} not accepted")
    payload = _json_object(_b64url(parts[1], "payload"), "payload")
    signature = _b64url(parts[2], "signature")
    return ParsedJws(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify_jws_signature(alg: str, key: Any, signing_input: bytes, signature: bytes) -> bool:
    """True when `signature` (JWS form: r||s for ECDSA) verifies; the key type must fit `alg`."""
    try:
        _check_key_type(alg, key)
        if alg in ("ES256", "ES384"):
            size = 32 if alg == "ES256" else 48
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            digest: hashes.HashAlgorithm = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
        elif alg == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            key.verify(
                signature, signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()
            )
        elif alg == "EdDSA":
            key.verify(signature, signing_input)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _section(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    if not isinstance(value, dict):
        raise _Failed("INTEGRITY_VERDICT_FAILED", f"{name} missing")
    return value


def _timestamp(details: Mapping[str, Any]) -> dt.datetime:
    raw = details.get("timestampMillis")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _invalid("requestDetails.timestampMillis missing")
    text = str(raw)
    if _DIGITS.fullmatch(text) is None:
        raise _invalid("requestDetails.timestampMillis not a non-negative integer")
    try:
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise _invalid("requestDetails.timestampMillis out of range") from None


def _check_claims(
    payload: Mapping[str, Any],
    policy: IntegrityPolicy,
    *,
    challenge_nonce: bytes,
    challenge_issued_at: dt.datetime,
    now: dt.datetime,
) -> None:
    details = payload.get("requestDetails")
    if not isinstance(details, dict):
        raise _invalid("requestDetails missing")
    nonce = details.get("nonce")
    expected = integrity_nonce(challenge_nonce)
    if not isinstance(nonce, str) or not nonce.isascii():
        raise _Failed("INTEGRITY_NONCE_MISMATCH", "requestDetails.nonce missing")
    if not hmac.compare_digest(nonce.encode("ascii"), expected.encode("ascii")):
        raise _Failed("INTEGRITY_NONCE_MISMATCH", "nonce is not bound to this verification's challenge")
    at = _timestamp(details)
    if at > now + policy.clock_skew:
        raise _Failed("INTEGRITY_TOKEN_STALE", "token dated in the future")
    if at < challenge_issued_at - policy.clock_skew:
        raise _Failed("INTEGRITY_TOKEN_STALE", "token older than the challenge")
    if now - at > policy.max_age:
        raise _Failed("INTEGRITY_TOKEN_STALE", f"token older than {policy.max_age.total_seconds():.0f} s")
    app = _section(payload, "appIntegrity")
    package = details.get("requestPackageName")
    if policy.package_names and (
        not isinstance(package, str)
        or package not in policy.package_names
        or app.get("packageName") != package
    ):
        raise _Failed("INTEGRITY_VERDICT_FAILED", "app package not allowed")
    if (
        policy.required_app_verdict is not None
        and app.get("appRecognitionVerdict") != policy.required_app_verdict
    ):
        raise _Failed("INTEGRITY_VERDICT_FAILED", "app not recognised by the platform")
    device = _section(payload, "deviceIntegrity")
    labels = device.get("deviceRecognitionVerdict")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise _Failed("INTEGRITY_VERDICT_FAILED", "deviceIntegrity.deviceRecognitionVerdict missing")
    if not policy.required_device_verdicts <= set(labels):
        raise _Failed("INTEGRITY_VERDICT_FAILED", "device does not meet the required integrity")
    if policy.require_licensed:
        account = _section(payload, "accountDetails")
        if account.get("appLicensingVerdict") != "LICENSED":
            raise _Failed("INTEGRITY_VERDICT_FAILED", "app not licensed")


def check_integrity(
    token: str | None,
    policy: IntegrityPolicy,
    *,
    challenge_nonce: bytes,
    challenge_issued_at: dt.datetime,
    now: dt.datetime,
) -> IntegrityCheck:
    """The verdict on a phone's integrity token and what the policy makes of it."""
    if not policy.configured:
        return IntegrityCheck(Verdict.NOT_CONFIGURED, Disposition.ACCEPT)
    if not token:
        reason = Reason("INTEGRITY_TOKEN_MISSING", "integrity is required here and no token was sent")
        return IntegrityCheck(Verdict.MISSING, policy.on_missing, reason)
    try:
        jws = parse_compact_jws(token, policy.algorithms)
        alg = jws.header["alg"]
        kid = jws.header.get("kid")
        if kid is not None:
            if not isinstance(kid, str) or kid not in policy.keys:
                raise _invalid("unknown key id")
            candidates = [policy.keys[kid]]
        else:
            candidates = list(policy.keys.values())
        candidates = [k for k in candidates if k.alg == alg]
        if not candidates:
            raise _invalid("no configured key for this algorithm")
        if not any(
            verify_jws_signature(alg, k.public_key(), jws.signing_input, jws.signature) for k in candidates
        ):
            raise _invalid("signature does not verify")
        _check_claims(
            jws.payload,
            policy,
            challenge_nonce=challenge_nonce,
            challenge_issued_at=challenge_issued_at,
            now=now,
        )
    except _Failed as failed:
        disposition = (
            policy.on_verdict_failed if failed.code == "INTEGRITY_VERDICT_FAILED" else policy.on_invalid
        )
        return IntegrityCheck(Verdict.FAILED, disposition, Reason(failed.code, failed.detail))
    return IntegrityCheck(Verdict.VERIFIED, Disposition.ACCEPT)

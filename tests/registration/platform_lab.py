"""A stand-in for a platform integrity service (Play Integrity style), with keys the test suite
makes: it signs verdict payloads as compact JWS, correctly or in the ways an attacker would."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from bhytgate.registration.integrity import IntegrityKey
from bhytgate_client.integrity import integrity_nonce

PACKAGE = "vn.gov.baohiemxahoi.vssid"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pem(public_key: Any) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def verdict(
    challenge_nonce: bytes,
    *,
    at: dt.datetime | None = None,
    package: str = PACKAGE,
    device: tuple[str, ...] = ("MEETS_DEVICE_INTEGRITY",),
    app: str = "PLAY_RECOGNIZED",
    nonce: str | None = None,
) -> dict[str, Any]:
    moment = at or dt.datetime.now(dt.UTC)
    return {
        "requestDetails": {
            "requestPackageName": package,
            "nonce": integrity_nonce(challenge_nonce) if nonce is None else nonce,
            "timestampMillis": str(int(moment.timestamp() * 1000)),
        },
        "appIntegrity": {"appRecognitionVerdict": app, "packageName": package, "versionCode": "42"},
        "deviceIntegrity": {"deviceRecognitionVerdict": list(device)},
        "accountDetails": {"appLicensingVerdict": "LICENSED"},
    }


def sign(alg: str, key: Any, signing_input: bytes) -> bytes:
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "RS256":
        return bytes(key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))
    if alg == "PS256":
        return bytes(key.sign(signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()))
    if alg == "EdDSA":
        return bytes(key.sign(signing_input))
    raise ValueError(alg)


def jws(
    payload: dict[str, Any] | bytes, key: Any, *, alg: str = "ES256", header: dict[str, Any] | None = None
) -> str:
    head = {"alg": alg, "kid": "play-1"} if header is None else header
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64u(json.dumps(head).encode())}.{b64u(body)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64u(sign(alg, key, signing_input))}"


class Platform:
    """One signing key per algorithm, published to the gateway as IntegrityKey."""

    def __init__(self) -> None:
        self.es256 = ec.generate_private_key(ec.SECP256R1())
        self.rs256 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.eddsa = ed25519.Ed25519PrivateKey.generate()

    def key(self, kid: str = "play-1", alg: str = "ES256") -> IntegrityKey:
        private = {"ES256": self.es256, "RS256": self.rs256, "PS256": self.rs256, "EdDSA": self.eddsa}[alg]
        return IntegrityKey(kid, alg, pem(private.public_key()))

    def token(self, challenge_nonce: bytes, **kw: Any) -> str:
        return jws(verdict(challenge_nonce, **kw), self.es256)

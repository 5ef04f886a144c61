"""The renewal receipt: a compact JWS (ES256) signed with the gateway's attestation key, like an
attestation, so the payer and the fund verify it offline against the same JWKS.

Its own `typ` keeps it from being taken for a check-in attestation (and the reverse). It names the
cards (as an attestation does), never a CCCD number, a name or anything biometric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.attestation import ALGORITHM, public_jwk
from bhytgate_client.attestation import b64url_decode_strict

RECEIPT_TYP = "bhytgate-household-receipt+jwt"


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiptMember:
    order: int
    card_number: str
    monthly_vnd: int
    amount_vnd: int
    valid_from: dt.date
    valid_to: dt.date
    start_rule: str
    previous_valid_to: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "card_number": self.card_number,
            "monthly_vnd": self.monthly_vnd,
            "amount_vnd": self.amount_vnd,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "start_rule": self.start_rule,
            "previous_valid_to": self.previous_valid_to.isoformat() if self.previous_valid_to else None,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: str
    issuer: str
    payment_reference: str
    paid_on: dt.date
    issued_at: dt.datetime
    facility: str
    terminal_id: str
    payer_verification_id: str
    base_salary_vnd: int
    months: int
    members: tuple[ReceiptMember, ...]

    @property
    def total_vnd(self) -> int:
        return sum(m.amount_vnd for m in self.members)

    def to_payload(self) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "jti": self.receipt_id,
            "iat": int(self.issued_at.timestamp()),
            "kind": "household_renewal",
            "payment_reference": self.payment_reference,
            "paid_on": self.paid_on.isoformat(),
            "facility": self.facility,
            "terminal": self.terminal_id,
            "payer_verification_id": self.payer_verification_id,
            "base_salary_vnd": self.base_salary_vnd,
            "months": self.months,
            "total_vnd": self.total_vnd,
            "members": [m.to_json() for m in self.members],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Receipt:
        return cls(
            receipt_id=str(payload["jti"]),
            issuer=str(payload["iss"]),
            payment_reference=str(payload["payment_reference"]),
            paid_on=dt.date.fromisoformat(payload["paid_on"]),
            issued_at=dt.datetime.fromtimestamp(int(payload["iat"]), dt.UTC),
            facility=str(payload["facility"]),
            terminal_id=str(payload["terminal"]),
            payer_verification_id=str(payload["payer_verification_id"]),
            base_salary_vnd=int(payload["base_salary_vnd"]),
            months=int(payload["months"]),
            members=tuple(
                ReceiptMember(
                    int(m["order"]),
                    str(m["card_number"]),
                    int(m["monthly_vnd"]),
                    int(m["amount_vnd"]),
                    dt.date.fromisoformat(m["valid_from"]),
                    dt.date.fromisoformat(m["valid_to"]),
                    str(m["start_rule"]),
                    dt.date.fromisoformat(m["previous_valid_to"]) if m.get("previous_valid_to") else None,
                )
                for m in payload["members"]
            ),
        )


def read_unverified(token: str) -> Receipt:
    """The receipt of a token this gateway just read from its own database (no signature check)."""
    return Receipt.from_payload(jwt.decode(token, options={"verify_signature": False}))


def sign_receipt(receipt: Receipt, key: ec.EllipticCurvePrivateKey) -> str:
    kid = public_jwk(key.public_key())["kid"]
    return jwt.encode(
        receipt.to_payload(), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": RECEIPT_TYP}
    )


class ReceiptInvalid(ValueError):
    pass


def verify_receipt(token: str, jwks_json: str) -> Receipt:
    """The receipt, once its ES256 signature verifies with a key of `jwks_json` and its typ is a
    receipt's; ReceiptInvalid otherwise. Each segment in its one canonical base64url spelling
    first: PyJWT's decoder takes padding and unused bits set, other spellings of one receipt."""
    segments = token.split(".")
    if len(segments) != 3:
        raise ReceiptInvalid("not a compact JWS")
    try:
        for segment in segments:
            b64url_decode_strict(segment)
    except ValueError as exc:
        raise ReceiptInvalid(f"not a compact JWS: {exc}") from None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ReceiptInvalid("not a compact JWS") from exc
    if header.get("alg") != ALGORITHM or header.get("typ") != RECEIPT_TYP:
        raise ReceiptInvalid("not a household receipt (alg or typ)")
    keys = {k.get("kid"): k for k in json.loads(jwks_json).get("keys", [])}
    jwk = keys.get(header.get("kid"))
    if jwk is None or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ReceiptInvalid("signed by an unknown key")
    public = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
    try:
        payload = jwt.decode(token, public, algorithms=[ALGORITHM], options={"verify_iat": False})  # type: ignore[arg-type]
    except jwt.PyJWTError as exc:
        raise ReceiptInvalid("signature does not verify") from exc
    return Receipt.from_payload(payload)

"""One spelling per token (attack run): a base64url segment with padding, with '+' or '/', or whose
last character sets bits no byte uses decoded to the same bytes, so one signed attestation,
checkpoint or receipt verified under several spellings, each a different string. An attestation's id
is the SHA-256 of the token as released: a second spelling was a second id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from bhytgate.attestation import AttestationStatus, sign_attestation, verify_attestation
from bhytgate.audit.checkpoint import AuditCheckpoint, CheckpointError, sign_checkpoint, verify_checkpoint
from bhytgate.household.receipt import Receipt, ReceiptInvalid, ReceiptMember, sign_receipt, verify_receipt
from bhytgate.registration.integrity import _Failed, parse_compact_jws
from bhytgate_client.attestation import b64url_decode_strict

from .test_jws import CLAIMS, JWKS, KEY, NOW  # one signed attestation's fixtures for both files

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _with_unused_bits(segment: str) -> str:
    """The same bytes, its last character's unused low bits set (an ES256 signature: 86
    characters, 4 unused bits)."""
    unused = {2: 4, 3: 2}[len(segment) % 4]
    value = ALPHABET.index(segment[-1])
    assert value & ((1 << unused) - 1) == 0  # canonical: they are zero
    return segment[:-1] + ALPHABET[value | 1]


def _spellings(token: str) -> dict[str, str]:
    """Other spellings of `token`'s signature that a lenient decoder reads as the same bytes."""
    head, body, sig = token.split(".")
    out = {
        "unused bits set": f"{head}.{body}.{_with_unused_bits(sig)}",
        "padded": f"{head}.{body}.{sig}==",
    }
    if "-" in sig or "_" in sig:
        out["standard alphabet"] = f"{head}.{body}.{sig.replace('-', '+').replace('_', '/')}"
    return out


def _signed_with_a_dash_or_underscore(sign: Callable[[], str]) -> str:
    """ECDSA signatures are random: sign until one has '-' or '_' (a few tries)."""
    for _ in range(200):
        token = sign()
        if {"-", "_"} & set(token.split(".")[2]):
            return token
    raise AssertionError("no signature with '-' or '_' in 200 tries")


def test_the_helper_takes_only_canonical_unpadded_base64url() -> None:
    assert b64url_decode_strict("") == b""
    assert b64url_decode_strict("AQ") == b"\x01"
    assert b64url_decode_strict("-_8") == b"\xfb\xff"
    refused = {
        "AR": "not canonical base64url",  # b"\x01" too, a low bit set
        "AQ==": "padding",
        "AQ=": "padding",
        "-_8=": "padding",
        "+/8": "outside",
        "A Q": "outside",
        "AQ\n": "outside",
        "ÄQ": "outside",
        "٢٤": "outside",
        "A": "length",
        "AAAAA": "length",
    }
    for text, why in refused.items():
        with pytest.raises(ValueError, match=why):
            b64url_decode_strict(text)


def test_an_attestation_verifies_in_one_spelling_only() -> None:
    token = _signed_with_a_dash_or_underscore(lambda: sign_attestation(CLAIMS, KEY))
    assert verify_attestation(token, JWKS, NOW).ok
    spellings = _spellings(token)
    assert len(spellings) == 3
    for why, other in spellings.items():
        check = verify_attestation(other, JWKS, NOW)
        assert check.status is AttestationStatus.MALFORMED, why
        assert "base64url" in check.detail, why


def test_a_checkpoint_verifies_in_one_spelling_only() -> None:
    checkpoint = AuditCheckpoint("bhytgate-dev-01", 3, "ab" * 32, NOW)
    token = _signed_with_a_dash_or_underscore(lambda: sign_checkpoint(checkpoint, KEY))
    assert verify_checkpoint(token, JWKS) == checkpoint
    for other in _spellings(token).values():
        with pytest.raises(CheckpointError, match=r"not a compact JWS: .*base64url"):
            verify_checkpoint(other, JWKS)


def test_a_household_receipt_verifies_in_one_spelling_only() -> None:
    member = ReceiptMember(
        1, "GD4010123456789", 50_000, 600_000, dt.date(2025, 4, 1), dt.date(2026, 3, 31), "renewal"
    )
    receipt = Receipt(
        "rcpt-1", "bhytgate-dev-01", "PAY-1", dt.date(2025, 3, 3), NOW, "01001", "desk-01",
        "ver-0001", 2_340_000, 12, (member,),
    )  # fmt: skip
    token = _signed_with_a_dash_or_underscore(lambda: sign_receipt(receipt, KEY))
    assert verify_receipt(token, JWKS) == receipt
    for other in _spellings(token).values():
        with pytest.raises(ReceiptInvalid, match=r"not a compact JWS: .*base64url"):
            verify_receipt(other, JWKS)


def test_an_integrity_token_is_held_to_one_spelling_too() -> None:
    """Already strict before (its own copy of the check); now the shared helper."""
    token = _signed_with_a_dash_or_underscore(
        lambda: sign_checkpoint(AuditCheckpoint("x", 1, "ab" * 32, NOW), KEY)
    )
    algorithms = frozenset({"ES256"})
    assert parse_compact_jws(token, algorithms).header["alg"] == "ES256"
    for why, other in _spellings(token).items():
        with pytest.raises(_Failed) as refused:
            parse_compact_jws(other, algorithms)
        assert refused.value.code == "INTEGRITY_TOKEN_INVALID", why
        assert "signature: " in refused.value.detail and "base64url" in refused.value.detail, why

"""Backend-neutral pieces: entitlement (de)serialisation, template sealing, input checks, time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import types
import typing
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bhytgate import ids
from bhytgate.entitlement.model import Entitlement
from bhytgate.storage.interface import TemplateIntegrityError

# The shared ASCII patterns, used with fullmatch (`^...$` with match accepted a trailing newline).
CARD_RE = ids.CARD_NUMBER_RE
BHXH_RE = ids.BHXH_RE
CCCD_RE = ids.CCCD_RE

_TEMPLATE_AAD_TAG = "bhytgate-face-template-v1"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def check_card(card_number: str) -> str:
    if not CARD_RE.fullmatch(card_number):
        raise ValueError("card number must be 15 characters: group, benefit 1-5, province, 10 digits")
    return card_number


def check_bhxh(bhxh_number: str) -> str:
    if not BHXH_RE.fullmatch(bhxh_number):
        raise ValueError("social-insurance number must be 10 digits")
    return bhxh_number


def check_cccd(cccd_number: str) -> str:
    if not CCCD_RE.fullmatch(cccd_number):
        raise ValueError("CCCD number must be 12 digits")
    return cccd_number


def check_entitlement(e: Entitlement) -> None:
    """Reject records whose lookup keys are malformed or disagree (the 15-char code embeds the BHXH)."""
    check_card(e.card_number)
    check_bhxh(e.social_insurance_number)
    if e.cccd_number is not None:
        check_cccd(e.cccd_number)
    if e.card_number[5:] != e.social_insurance_number:
        raise ValueError("card number does not embed its social-insurance number")


def aware(ts: dt.datetime) -> dt.datetime:
    """Naive datetimes are ambiguous across servers: refuse them rather than guess a zone."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(dt.UTC)


def to_us(ts: dt.datetime) -> int:
    """Microseconds since the epoch: integers sort and compare exactly in SQLite."""
    delta = aware(ts) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


@typing.no_type_check
def _date_fields() -> frozenset[str]:
    hints = typing.get_type_hints(Entitlement)
    out = set()
    for name, hint in hints.items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if dt.date in args:
            out.add(name)
    return frozenset(out)


_DATE_FIELDS = _date_fields()


def entitlement_to_json(e: Entitlement) -> str:
    """Whole record as JSON so that new model fields need no migration; keys live in their own columns."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(Entitlement):
        value = getattr(e, f.name)
        data[f.name] = value.isoformat() if isinstance(value, dt.date) else value
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def entitlement_from_json(text: str) -> Entitlement:
    data = json.loads(text)
    known = {f.name for f in dataclasses.fields(Entitlement)}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue  # a field a newer writer added; an older reader ignores it
        if name in _DATE_FIELDS and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        kwargs[name] = value
    return Entitlement(**kwargs)


def _template_aad(cccd_number: str, model_name: str, model_version: str) -> bytes:
    # JSON array: unambiguous boundaries, so no (cccd, model) pair can collide with another.
    return json.dumps([_TEMPLATE_AAD_TAG, cccd_number, model_name, model_version]).encode()


class TemplateSealer:
    """AES-256-GCM with a fresh 96-bit nonce per record, bound to the person and the model."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("face template key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def seal(
        self, cccd_number: str, model_name: str, model_version: str, template: bytes
    ) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, template, _template_aad(cccd_number, model_name, model_version))
        return nonce, ct

    def open(
        self, cccd_number: str, model_name: str, model_version: str, nonce: bytes, ciphertext: bytes
    ) -> bytes:
        try:
            return self._aead.decrypt(
                nonce, ciphertext, _template_aad(cccd_number, model_name, model_version)
            )
        except InvalidTag as exc:
            raise TemplateIntegrityError("face template failed authentication") from exc

    def seal_blob(self, label: str, data: bytes) -> tuple[bytes, bytes]:
        """Other personal data at rest (counter sessions), bound to its row by `label`."""
        nonce = os.urandom(12)
        return nonce, self._aead.encrypt(nonce, data, json.dumps(["bhytgate-blob-v1", label]).encode())

    def open_blob(self, label: str, nonce: bytes, ciphertext: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, json.dumps(["bhytgate-blob-v1", label]).encode())
        except InvalidTag as exc:
            raise TemplateIntegrityError("sealed record failed authentication") from exc

"""Credential verifiers, chosen by kind. A new credential is one module and one line here."""

from __future__ import annotations

from bhytgate.service.credentials.base import CredentialContext, CredentialVerifier, Evidence, Rejected
from bhytgate.service.credentials.chip import ChipCredential
from bhytgate.service.credentials.qr import BhytQrCredential, CccdQrCredential

REGISTRY: dict[str, CredentialVerifier] = {
    v.kind: v for v in (ChipCredential(), CccdQrCredential(), BhytQrCredential())
}

__all__ = ["REGISTRY", "CredentialContext", "CredentialVerifier", "Evidence", "Rejected"]

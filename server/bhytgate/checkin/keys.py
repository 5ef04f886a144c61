"""Keyed pseudonyms under which verified check-ins are stored and claims matched.

Reconciliation needs to ask "was this person verified here, then?" for a CCCD or a card number
read from a claim, never "who was verified?". So the check-in table holds HMAC-SHA256 pseudonyms of
the numbers, and a claim is matched by computing the same ones. The key is derived (HKDF) from the
audit HMAC key, a cluster secret every replica has, under its own label: the pseudonyms do not
equal the fraud ledger's document keys, and no new secret has to be distributed.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"bhytgate-checkin-pseudonym-v1"


class CheckinKeys:
    def __init__(self, audit_key: bytes) -> None:
        if len(audit_key) < 16:
            raise ValueError("audit HMAC key must be at least 16 bytes")
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(audit_key)

    def _mac(self, label: str, value: str) -> str:
        return hmac.new(self._key, f"{label}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def cccd(self, number: str) -> str:
        """A 12-digit CCCD number (the chip's, or a claim's SO_CCCD)."""
        return self._mac("cccd", number)

    def card(self, number: str) -> str:
        """A 15-character BHYT card code; the 10-digit social-insurance number inside it is what
        stays the same when a card is renewed under another group or benefit code."""
        return self._mac("card", number[-10:])

    def visit(self, facility: str, ma_lk: str) -> str:
        """A facility's visit key MA_LK (unique within its facility only)."""
        return self._mac("visit", f"{facility}\x00{ma_lk}")

    def dossier(self, file_facility: str, xml1: str) -> str:
        """A claims dossier as sent (the file's facility and its XML1 payload, byte for byte): the
        same dossier re-sent has the same key, any change to it another; keyed, so the digest of
        a dossier's personal data cannot be confirmed by someone holding a guess."""
        return self._mac("dossier", f"{file_facility}\x00{xml1}")

"""The nonce a phone asks its platform integrity service to sign (Play Integrity `nonce`, App Attest
client data): bound to the gateway's BeginVerification nonce, so a verdict obtained for one
challenge is worthless for any other. The gateway computes the same value (bhytgate.registration)."""

from __future__ import annotations

import base64
import hashlib

INTEGRITY_DOMAIN = b"bhytgate.v1.integrity\n"


def integrity_nonce(challenge_nonce: bytes) -> str:
    """base64url (no padding) of SHA-256(domain || the challenge's nonce)."""
    if not challenge_nonce:
        raise ValueError("the challenge nonce is required")
    digest = hashlib.sha256(INTEGRITY_DOMAIN + challenge_nonce).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

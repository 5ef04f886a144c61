"""The byte string a terminal's device key signs over a capture (see TerminalSignature in the proto).

Part of the wire contract: client SDKs and the server build it with this one function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DOMAIN = b"bhytgate.v1.frames\n"


def frames_signing_payload(challenge_id: str, nonce: bytes, frames: Iterable[tuple[bytes, int]]) -> bytes:
    """DOMAIN || challenge_id || "\\n" || nonce || per frame: SHA-256(image) || timestamp_ms (8 bytes BE)."""
    parts = [DOMAIN, challenge_id.encode("utf-8"), b"\n", nonce]
    for image, timestamp_ms in frames:
        parts.append(hashlib.sha256(image).digest())
        parts.append(int(timestamp_ms).to_bytes(8, "big", signed=True))
    return b"".join(parts)

"""The bytes a terminal's device key signs over a capture (TerminalSignature in the proto).

Part of the wire contract, defined once, here: the gateway verifies terminal signatures over this
same function's output (`bhytgate.face.liveness` imports it). Standard library only.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

SIGNING_DOMAIN = b"BHYTGATE-LIVENESS-V1\n"


def signing_payload(nonce: bytes, frames: Sequence[tuple[bytes, int]]) -> bytes:
    """The exact bytes a terminal signs, from the frames' SHA-256 digests.

    ``SIGNING_DOMAIN | u16 len(nonce) | nonce | u16 n | n x (sha256(frame bytes) | u64 timestamp_ms)``,
    integers big-endian, frames in the order sent.
    """
    if len(nonce) > 0xFFFF or len(frames) > 0xFFFF:
        raise ValueError("nonce or frame list too long")
    parts = [SIGNING_DOMAIN, struct.pack(">H", len(nonce)), nonce, struct.pack(">H", len(frames))]
    for digest, ts in frames:
        if len(digest) != 32 or not 0 <= ts < 2**64:
            raise ValueError("each frame needs a 32-byte SHA-256 and a non-negative timestamp")
        parts += [digest, struct.pack(">Q", ts)]
    return b"".join(parts)


def frames_signing_payload(nonce: bytes, frames: Iterable[tuple[bytes, int]]) -> bytes:
    """`signing_payload` for the encoded frames as sent, `(image bytes, timestamp_ms)` in request order."""
    return signing_payload(nonce, [(hashlib.sha256(image).digest(), int(ts)) for image, ts in frames])

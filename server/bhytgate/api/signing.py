"""The byte string a terminal's device key signs over a capture (see TerminalSignature in the proto).

Part of the wire contract. There is one definition, the liveness library's `signing_payload`; this
wrapper takes the encoded frames as sent so that client SDKs need not hash them themselves. The
import is deferred: clients that never sign should not pay for loading the face library (dlib).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def frames_signing_payload(nonce: bytes, frames: Iterable[tuple[bytes, int]]) -> bytes:
    """`signing_payload(nonce, [(SHA-256(image), timestamp_ms), ...])` for frames in request order."""
    from bhytgate.face.liveness import signing_payload

    return signing_payload(nonce, [(hashlib.sha256(image).digest(), int(ts)) for image, ts in frames])

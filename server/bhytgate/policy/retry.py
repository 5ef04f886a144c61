"""RETRY instead of reject: outcomes that say nothing about fraud. Pure.

A read cut short (no Active Authentication answer from a chip that can give one, or an answer that
cannot be a signature at all), no usable face in the live capture (none, several, blurred, too
small, cut off, turned away, an image that does not decode) and a face worker restarting are asked
again, with a hint for the terminal, instead of being refused. They feed neither the face-mismatch
lock nor the terminal's rejection rate. Anything that is evidence (a signature that does not
verify, a face that does not match, a failed liveness challenge, a replayed frame or challenge, a
forged chip) still rejects, and one such reason among retry reasons makes the whole check REJECTED.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from bhytgate.policy.model import Reason, ReasonCode


class RetryHint(enum.StrEnum):
    HOLD_CARD_STILL = "HOLD_CARD_STILL"
    FACE_THE_CAMERA = "FACE_THE_CAMERA"
    TRY_AGAIN_SHORTLY = "TRY_AGAIN_SHORTLY"


RETRY_HINTS: dict[str, RetryHint] = {
    ReasonCode.AA_MISSING: RetryHint.HOLD_CARD_STILL,
    ReasonCode.AA_UNREADABLE: RetryHint.HOLD_CARD_STILL,
    ReasonCode.NO_FACE: RetryHint.FACE_THE_CAMERA,
    ReasonCode.MULTIPLE_FACES: RetryHint.FACE_THE_CAMERA,
    ReasonCode.POOR_FACE_QUALITY: RetryHint.FACE_THE_CAMERA,
}
# Outcomes the service itself marks RETRY (a face worker restarting), not by their code alone:
# the same code also reports an enrolled template failing its integrity check.
SERVICE_HINTS: dict[str, RetryHint] = {ReasonCode.INTERNAL_CHECK_UNAVAILABLE: RetryHint.TRY_AGAIN_SHORTLY}
RETRY_CODES = frozenset(RETRY_HINTS)

MESSAGES = {
    RetryHint.HOLD_CARD_STILL: "Hold the card still on the reader until the read completes, then try again.",
    RetryHint.FACE_THE_CAMERA: "Face the camera alone, in good light and close enough, then try again.",
    RetryHint.TRY_AGAIN_SHORTLY: "The gateway is busy for a moment: try again shortly.",
}


def is_retry(reasons: Iterable[Reason]) -> bool:
    """Every reason is of the retry class (and there is at least one)."""
    codes = [r.code for r in reasons]
    return bool(codes) and all(c in RETRY_CODES for c in codes)


def hint(reasons: Iterable[Reason]) -> RetryHint | None:
    """The first reason's hint: the card is read before the face is looked at."""
    for r in reasons:
        found = RETRY_HINTS.get(r.code) or SERVICE_HINTS.get(r.code)
        if found is not None:
            return found
    return None

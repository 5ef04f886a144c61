"""Active Authentication, terminal side: relay the gateway's challenge to the chip.

The terminal never hashes, derives or checks anything here (BeginVerificationResponse.aa_challenge
and ActiveAuthResponse in the proto): it sends `aa_challenge` to the chip as consecutive 8-byte
INTERNAL AUTHENTICATE commands (four for the 32-byte challenge), and puts the chip's answers, as
returned, into VerifyRequest.active_auth.signatures in the same order. Talking to the chip (the
reader, secure messaging) is the caller's `internal_authenticate`:

    signatures = relay_active_auth(challenge.aa_challenge, reader.internal_authenticate)
    # or, in the two-step flow:
    client.check_in(files, capture, answer_challenge=lambda c: relay_active_auth(c, reader.transmit))
"""

from __future__ import annotations

from collections.abc import Callable

AA_CHUNK = 8
"""Bytes of command data per INTERNAL AUTHENTICATE (ICAO 9303-11 6.1)."""

InternalAuthenticate = Callable[[bytes], bytes]
"""Send one INTERNAL AUTHENTICATE with these 8 bytes to the chip; its response data field."""


def aa_chunks(aa_challenge: bytes) -> list[bytes]:
    """The challenge's 8-byte commands, in order: bytes 0-7, 8-15, ..."""
    if not aa_challenge or len(aa_challenge) % AA_CHUNK:
        raise ValueError(f"the challenge must be a non-empty multiple of {AA_CHUNK} bytes")
    return [aa_challenge[i : i + AA_CHUNK] for i in range(0, len(aa_challenge), AA_CHUNK)]


def relay_active_auth(aa_challenge: bytes, internal_authenticate: InternalAuthenticate) -> list[bytes]:
    """One INTERNAL AUTHENTICATE per chunk, in order; the chip's answers as it returned them."""
    answers = []
    for i, chunk in enumerate(aa_chunks(aa_challenge)):
        answer = internal_authenticate(chunk)
        if not isinstance(answer, bytes | bytearray) or not answer:
            raise ValueError(f"INTERNAL AUTHENTICATE {i + 1} returned no response data")
        answers.append(bytes(answer))
    return answers

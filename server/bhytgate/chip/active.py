"""Active Authentication over the gateway's 32-byte challenge (ICAO 9303 part 11, 6.1).

A chip signs 8 bytes per INTERNAL AUTHENTICATE, so the gateway's challenge goes as four 8-byte
chunks and four signatures come back; all four must verify. RSA chips answer with ISO/IEC 9796-2
digital signature scheme 1 (partial message recovery); EC chips with plain ECDSA r||s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from bhytgate.chip.crypto.keys import PublicKey
from bhytgate.chip.crypto.signatures import SignatureInvalidError, verify_ecdsa
from bhytgate.chip.errors import ChipError

CHALLENGE_BYTES = 32
CHUNK_BYTES = 8

# ISO/IEC 10118-3 hash identifiers used in the 9796-2 two-byte trailer (0x..CC)
_TRAILER_HASHES: dict[int, str] = {
    0x33: "sha1",
    0x34: "sha256",
    0x35: "sha512",
    0x36: "sha384",
    0x38: "sha224",
}


@dataclasses.dataclass(frozen=True)
class ActiveResult:
    valid: bool
    reason: str | None
    detail: str | None = None


def split_challenge(challenge: bytes) -> list[bytes]:
    if len(challenge) != CHALLENGE_BYTES:
        raise ValueError(f"challenge must be {CHALLENGE_BYTES} bytes")
    return [challenge[i : i + CHUNK_BYTES] for i in range(0, CHALLENGE_BYTES, CHUNK_BYTES)]


def verify_iso9796_2(key: PublicKey, message: bytes, signature: bytes) -> None:
    """ISO/IEC 9796-2 scheme 1 with `message` as the non-recoverable part M2."""
    public = key.rsa.public_numbers()
    n, e = public.n, public.e
    k = (n.bit_length() + 7) // 8
    if len(signature) > k:
        raise SignatureInvalidError("RSA signature longer than the modulus")
    s = int.from_bytes(signature, "big")
    if s == 0 or s >= n:
        raise SignatureInvalidError("RSA signature out of range")
    f = pow(s, e, n)
    if f & 0x0F != 0x0C:
        f = n - f  # the signer may have sent min(s, n - s); then F = n - J
    if f & 0x0F != 0x0C:
        raise SignatureInvalidError("ISO/IEC 9796-2 representative has no valid trailer nibble")
    representative = f.to_bytes(k, "big")
    if representative[0] & 0xC0 != 0x40:
        raise SignatureInvalidError("ISO/IEC 9796-2 header is not 01")
    partial = bool(representative[0] & 0x20)
    if representative[-1] == 0xBC:
        hash_name, trailer = "sha1", 1
    elif representative[-1] == 0xCC:
        hash_name = _TRAILER_HASHES.get(representative[-2], "")
        trailer = 2
        if not hash_name:
            raise SignatureInvalidError(f"unknown ISO/IEC 9796-2 hash identifier 0x{representative[-2]:02X}")
    else:
        raise SignatureInvalidError("ISO/IEC 9796-2 trailer is neither 0xBC nor 0x..CC")
    digest_len = hashlib.new(hash_name).digest_size
    # The representative starts with the header nibble(s) and padding; M1 begins after the
    # first byte whose low nibble is 0xA (01 1 0 ... 1010 for the usual header 0x6A).
    start = 0
    while start < k and representative[start] & 0x0F != 0x0A:
        start += 1
    if start >= k - trailer - digest_len:
        raise SignatureInvalidError("ISO/IEC 9796-2 padding is malformed")
    m1 = representative[start + 1 : k - trailer - digest_len]
    digest = representative[k - trailer - digest_len : k - trailer]
    recomputed = hashlib.new(hash_name, m1 + (message if partial else b"")).digest()
    if not partial and not hmac.compare_digest(m1, message):
        raise SignatureInvalidError("ISO/IEC 9796-2 full recovery does not give the challenge")
    if not hmac.compare_digest(digest, recomputed):
        raise SignatureInvalidError("ISO/IEC 9796-2 hash does not match the challenge")


def verify_chunk(key: PublicKey, chunk: bytes, signature: bytes, ec_hash: str | None) -> None:
    if key.kind == "rsa":
        verify_iso9796_2(key, chunk, signature)
        return
    if ec_hash is None:
        raise SignatureInvalidError("EC Active Authentication without an ActiveAuthenticationInfo hash")
    try:
        verify_ecdsa(key, ec_hash, chunk, signature, plain=True)
    except SignatureInvalidError:
        # Some chips answer DER-encoded ECDSA; accept it as a fallback.
        verify_ecdsa(key, ec_hash, chunk, signature, plain=False)


def unreadable_answer(key: PublicKey, signature: bytes) -> str | None:
    """Why `signature` cannot be an answer of a chip with `key` at all, or None if it could be.

    A chip answers with a full-length RSA block (the modulus' size) or an ECDSA r||s (twice the
    key's size) or DER SEQUENCE; a constant byte string is an empty or failed read. Anything of the
    right shape that does not verify is a wrong signature, which this never excuses."""
    if not signature or len(set(signature)) == 1:
        return "empty or constant answer"
    size = (key.bits + 7) // 8
    if key.kind == "rsa":
        if len(signature) != size:
            return f"{len(signature)} bytes for an RSA-{key.bits} key"
        return None
    if len(signature) != 2 * size and signature[0] != 0x30:
        return f"{len(signature)} bytes, neither r||s nor DER, for an EC key of {key.bits} bits"
    return None


def verify_active_authentication(
    key: PublicKey, challenge: bytes, signatures: list[bytes], *, ec_hash: str | None
) -> ActiveResult:
    """Four signatures, one per 8-byte chunk of `challenge`, each must verify with the DG15 key."""
    if len(challenge) != CHALLENGE_BYTES:
        return ActiveResult(False, "aa_challenge_invalid", f"challenge must be {CHALLENGE_BYTES} bytes")
    chunks = split_challenge(challenge)
    if len(signatures) != len(chunks):
        return ActiveResult(
            False, "aa_response_incomplete", f"expected {len(chunks)} signatures, got {len(signatures)}"
        )
    for index, signature in enumerate(signatures):
        problem = unreadable_answer(key, bytes(signature))
        if problem is not None:
            # Not a signature of this key at all: a cut-short read, not a chip that signs wrongly.
            return ActiveResult(False, "aa_answer_unreadable", f"chunk {index + 1}: {problem}")
    for index, (chunk, signature) in enumerate(zip(chunks, signatures, strict=True)):
        try:
            verify_chunk(key, chunk, bytes(signature), ec_hash)
        except ChipError as exc:
            return ActiveResult(False, "aa_signature_invalid", f"chunk {index + 1}: {exc.message}")
    return ActiveResult(True, None)

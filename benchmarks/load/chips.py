"""The terminal's side of Active Authentication, fast enough for a load generator.

The card lab's `SimulatedChip` signs ISO/IEC 9796-2 with a plain `pow(m, d, n)`: ~4 ms per RSA-1024
signature, 16 ms per check, on the generator's core. A real chip does this work, not the terminal's
CPU, so the generator uses the Chinese Remainder Theorem (about 3-4x faster) and checks once per card
that it produces exactly the card lab's signature.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from bhytgate_clients.cardlab import crypto
from bhytgate_clients.cardlab.chip import SimulatedChip, chunks, iso9796_2_sign, iso9796_2_trailer


class FastChip:
    """Answers an AA challenge like `SimulatedChip.answer_challenge`, with CRT for RSA keys."""

    def __init__(self, card_dir: Path) -> None:
        self._chip = SimulatedChip.from_dump(card_dir)
        key = self._chip.aa_key
        self._rsa: tuple[int, int, int, int, int, int, int] | None = None
        if isinstance(key, rsa.RSAPrivateKey) and self._chip.replay is None:
            numbers = key.private_numbers()
            n = numbers.public_numbers.n
            self._rsa = (
                n,
                numbers.p,
                numbers.q,
                numbers.dmp1,
                numbers.dmq1,
                numbers.iqmp,
                n.bit_length() // 8,
            )
            self._key = key
            probe_nonce = bytes(self._m1_len())
            probe = b"\x01\x02\x03\x04\x05\x06\x07\x08"
            expected = iso9796_2_sign(
                key, probe, self._chip.aa_hash, min_s=self._chip.rsa_min_s, nonce=probe_nonce
            )
            if self._sign(probe, probe_nonce) != expected:
                raise AssertionError("CRT signer disagrees with the card lab's ISO/IEC 9796-2 signer")

    def _m1_len(self) -> int:
        assert self._rsa is not None
        size = self._rsa[6]
        hash_len = crypto.hash_algorithm(self._chip.aa_hash).digest_size
        return size - 1 - hash_len - len(iso9796_2_trailer(self._chip.aa_hash))

    def _sign(self, message: bytes, nonce: bytes | None = None) -> bytes:
        assert self._rsa is not None
        n, p, q, dmp1, dmq1, iqmp, size = self._rsa
        name = self._chip.aa_hash
        m1 = nonce if nonce is not None else os.urandom(self._m1_len())
        representative = b"\x6a" + m1 + crypto.digest(name, m1 + message) + iso9796_2_trailer(name)
        m = int.from_bytes(representative, "big")
        s1, s2 = pow(m, dmp1, p), pow(m, dmq1, q)
        s = s2 + q * ((iqmp * (s1 - s2)) % p)
        if self._chip.rsa_min_s:
            s = min(s, n - s)
        return s.to_bytes(size, "big")

    def answer(self, challenge: bytes) -> list[bytes]:
        if self._rsa is None:
            return self._chip.answer_challenge(challenge)
        return [self._sign(chunk) for chunk in chunks(challenge)]

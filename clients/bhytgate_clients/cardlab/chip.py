"""A simulated chip answering Active Authentication (ICAO 9303-11 6.1) with the key behind DG15.

RSA chips sign with ISO/IEC 9796-2 digital signature scheme 1 (partial message recovery); EC chips
with plain ECDSA (r‖s). The gateway's 32-byte challenge goes as four 8-byte INTERNAL AUTHENTICATE
commands, as in the port server's vectors (../shared/emrtd/port_server_vectors/aa_sigs.json): the
terminal side of that relay is the SDK's `bhytgate_client.activeauth`, which this chip answers.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from bhytgate_client.activeauth import AA_CHUNK, aa_chunks, relay_active_auth

from . import crypto
from .crypto import PrivateKey

CHUNK = AA_CHUNK  # bytes per INTERNAL AUTHENTICATE
chunks = aa_chunks  # the challenge as consecutive commands, as a terminal sends them
AA_KEY_FILE = "chip_aa_key.pem"
CARD_FILE = "card.json"

# ISO/IEC 9796-2 trailer: 0xBC means SHA-1 implicitly; otherwise hash id (ISO/IEC 10118-3) then 0xCC.
_TRAILERS: dict[str, bytes] = {
    "sha1": b"\xbc",
    "sha256": b"\x34\xcc",
    "sha512": b"\x35\xcc",
    "sha384": b"\x36\xcc",
    "sha224": b"\x38\xcc",
}


def iso9796_2_trailer(hash_name: str) -> bytes:
    try:
        return _TRAILERS[hash_name]
    except KeyError:
        raise ValueError(f"no ISO/IEC 9796-2 trailer for {hash_name!r}") from None


def iso9796_2_sign(
    key: rsa.RSAPrivateKey,
    message: bytes,
    hash_name: str = "sha1",
    *,
    min_s: bool = True,
    nonce: bytes | None = None,
) -> bytes:
    """Scheme 1, partial recovery: F = 6A ‖ M1 ‖ H(M1‖M2) ‖ trailer with M1 a chip nonce, M2 = message.

    With `min_s` the result is min(s, n − s) as ISO/IEC 9796-2 specifies for RSA, so a verifier
    sees both openings; some real chips send s as is (set min_s=False).
    """
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    if n.bit_length() % 8:
        raise ValueError("the lab's ISO/IEC 9796-2 signer needs a modulus of whole bytes")
    size = n.bit_length() // 8
    trailer = iso9796_2_trailer(hash_name)
    hash_len = crypto.hash_algorithm(hash_name).digest_size
    m1_len = size - 1 - hash_len - len(trailer)
    m1 = nonce if nonce is not None else os.urandom(m1_len)
    if len(m1) != m1_len:
        raise ValueError(f"M1 must be {m1_len} bytes for this key and hash")
    representative = b"\x6a" + m1 + crypto.digest(hash_name, m1 + message) + trailer
    s = pow(int.from_bytes(representative, "big"), numbers.d, n)
    if min_s:
        s = min(s, n - s)
    return s.to_bytes(size, "big")


def ecdsa_plain_sign(key: ec.EllipticCurvePrivateKey, message: bytes, hash_name: str = "sha256") -> bytes:
    """ECDSA as r‖s, each as wide as the curve order (BSI TR-03111 plain format)."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(crypto.hash_algorithm(hash_name))))
    width = (key.curve.key_size + 7) // 8
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


@dataclasses.dataclass(frozen=True, slots=True)
class AaResponse:
    """A terminal's record of one challenge and the chip's signatures over its chunks."""

    challenge: bytes
    signatures: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"challenge": self.challenge.hex(), "signatures": [s.hex() for s in self.signatures]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AaResponse:
        return cls(bytes.fromhex(data["challenge"]), tuple(bytes.fromhex(s) for s in data["signatures"]))


def write_aa_response(path: Path, challenge: bytes, signatures: Sequence[bytes]) -> None:
    """`{"challenge": hex, "signatures": [hex, ...]}`: the file a terminal sends with its request."""
    response = AaResponse(challenge, tuple(signatures))
    path.write_text(json.dumps(response.to_json(), indent=2) + "\n", encoding="utf-8")


class SimulatedChip:
    """The chip side of Active Authentication; a replaying chip returns what it recorded earlier."""

    def __init__(
        self,
        aa_key: PrivateKey,
        *,
        aa_hash: str | None = None,
        rsa_min_s: bool = True,
        replay: AaResponse | None = None,
    ) -> None:
        self.aa_key = aa_key
        self.aa_hash = aa_hash or ("sha1" if isinstance(aa_key, rsa.RSAPrivateKey) else "sha256")
        self.rsa_min_s = rsa_min_s
        self.replay = replay
        self._calls = 0

    @classmethod
    def from_dump(cls, directory: Path) -> SimulatedChip:
        key = crypto.load_key(directory / AA_KEY_FILE)
        meta_path = directory / CARD_FILE
        meta: dict[str, Any] = (
            json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        )
        aa = meta.get("aa", {})
        replay = meta.get("replay")
        return cls(
            key,
            aa_hash=aa.get("hash"),
            rsa_min_s=bool(aa.get("rsa_min_s", True)),
            replay=AaResponse.from_json(replay) if replay else None,
        )

    def internal_authenticate(self, data: bytes) -> bytes:
        """One INTERNAL AUTHENTICATE: sign 8 bytes from the terminal."""
        if len(data) != CHUNK:
            raise ValueError(f"INTERNAL AUTHENTICATE takes {CHUNK} bytes, got {len(data)}")
        if self.replay is not None:
            recorded = self.replay.signatures[self._calls % len(self.replay.signatures)]
            self._calls += 1
            return recorded
        if isinstance(self.aa_key, rsa.RSAPrivateKey):
            return iso9796_2_sign(self.aa_key, data, self.aa_hash, min_s=self.rsa_min_s)
        return ecdsa_plain_sign(self.aa_key, data, self.aa_hash)

    def answer_challenge(self, challenge: bytes) -> list[bytes]:
        """The gateway's challenge as consecutive 8-byte commands, one signature each."""
        self._calls = 0
        return relay_active_auth(challenge, self.internal_authenticate)

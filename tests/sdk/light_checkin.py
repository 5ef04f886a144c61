"""Run by tests/sdk/test_wheel.py with the Python of a fresh virtualenv holding only the
bhytgate-client wheel and what pip installed for it: desk check-ins against a real gateway with the
light SDK alone, one per card, and a malformed Verify. Prints one JSON object.

    python light_checkin.py HOME CARD_DIR PHOTO [CARD_DIR PHOTO ...]

The chip's part (INTERNAL AUTHENTICATE) is the card lab's simulated chip, redone here with
`cryptography` alone from the lab-only key in the card folder: a terminal talks to the real chip
through its reader instead, and relays with the SDK's `relay_active_auth` as here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from bhytgate_client import (
    Frame,
    GatewayClient,
    GatewayError,
    Operator,
    now_ms,
    relay_active_auth,
    verify_attestation,
)
from bhytgate_client.v1 import gateway_pb2 as pb

CHIP_FILES = ("EF.SOD", "DG1", "DG2", "DG13", "DG14", "DG15")
OPERATOR = Operator("Lê Thu Hà", "001185000123")
HEAVY = ("numpy", "dlib", "face_recognition", "PIL", "bhytgate", "bhytgate_clients", "grpc_status")
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# ISO/IEC 9796-2 trailers: 0xBC is SHA-1 implied; else the ISO/IEC 10118-3 hash id, then 0xCC.
TRAILERS = {
    "sha1": b"\xbc",
    "sha256": b"\x34\xcc",
    "sha512": b"\x35\xcc",
    "sha384": b"\x36\xcc",
    "sha224": b"\x38\xcc",
}


class LabChip:
    """INTERNAL AUTHENTICATE with the key behind DG15: ISO/IEC 9796-2 scheme 1 (RSA), plain ECDSA (EC)."""

    def __init__(self, card: Path) -> None:
        self.key = serialization.load_pem_private_key((card / "chip_aa_key.pem").read_bytes(), None)
        aa = json.loads((card / "card.json").read_text(encoding="utf-8")).get("aa", {})
        self.is_rsa = isinstance(self.key, rsa.RSAPrivateKey)
        self.hash = aa.get("hash") or ("sha1" if self.is_rsa else "sha256")
        self.min_s = bool(aa.get("rsa_min_s", True))
        self.commands = 0

    def internal_authenticate(self, data: bytes) -> bytes:
        assert len(data) == 8, data
        self.commands += 1
        algorithm = HASHES[self.hash]()
        if isinstance(self.key, rsa.RSAPrivateKey):
            # F = 6A || M1 || H(M1 || M2) || trailer, M1 a fresh nonce, M2 the 8 bytes; s = F^d mod n.
            numbers = self.key.private_numbers()
            n = numbers.public_numbers.n
            size = n.bit_length() // 8
            trailer = TRAILERS[self.hash]
            m1 = os.urandom(size - 1 - algorithm.digest_size - len(trailer))
            digest = hashes.Hash(algorithm)
            digest.update(m1 + data)
            representative = b"\x6a" + m1 + digest.finalize() + trailer
            s = pow(int.from_bytes(representative, "big"), numbers.d, n)
            return (min(s, n - s) if self.min_s else s).to_bytes(size, "big")
        assert isinstance(self.key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(algorithm)))
        width = (self.key.curve.key_size + 7) // 8
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def check_in(client: GatewayClient, jwks: str, card: Path, photo: Path) -> dict[str, Any]:
    files = {name: (card / name).read_bytes() for name in CHIP_FILES if (card / name).is_file()}
    chip = LabChip(card)
    image = photo.read_bytes()
    result = client.check_in(
        files,
        lambda challenge: [Frame(image, now_ms())],  # a desk: one frame, captured after Begin
        answer_challenge=lambda aa_challenge: relay_active_auth(aa_challenge, chip.internal_authenticate),
        terminal_kind="desk",
        operator=OPERATOR,
    )
    check = verify_attestation(result.attestation, jwks) if result.attestation else None
    return {
        "card": card.name,
        "chip": "rsa" if chip.is_rsa else "ec",
        "internal_authenticate_commands": chip.commands,
        "result": result.to_json(),
        "attestation_status": None if check is None else str(check.status),
        "attestation_claims": None if check is None or check.claims is None else check.claims.to_payload(),
    }


def main(argv: list[str]) -> dict[str, Any]:
    home, pairs = Path(argv[0]), argv[1:]
    out: dict[str, Any] = {"python": sys.executable, "checkins": []}
    with GatewayClient.local("desk-01", home=home, timeout_s=60) as client:
        jwks = client.attestation_keys()
        for card, photo in zip(pairs[::2], pairs[1::2], strict=True):
            out["checkins"].append(check_in(client, jwks, Path(card), Path(photo)))
        try:  # field violations come back without grpcio-status
            client.send_verify(pb.VerifyRequest(terminal_id="desk-01"))
        except GatewayError as exc:
            out["invalid"] = {"code": exc.code, "violations": [list(v) for v in exc.violations]}
    out["heavy_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    out["heavy_importable"] = sorted(m for m in HEAVY if importlib.util.find_spec(m) is not None)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), ensure_ascii=False))

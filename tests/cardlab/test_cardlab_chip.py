from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from asn1crypto import keys, parser
from cardlab_helpers import aa_ok, public_key, verify_rsa_aa
from cryptography.hazmat.primitives.asymmetric import rsa

from bhytgate_clients.cardlab import CardDump, SimulatedChip, lds, write_aa_response
from bhytgate_clients.cardlab.chip import iso9796_2_sign


def _dg15_key(card: CardDump) -> object:
    return public_key(lds.dg15_public_key(card.files["DG15"]))


def test_helper_verifier_accepts_the_real_port_server_vectors(emrtd_dir: Path) -> None:
    """Our test verifier must accept a real chip's answers before it judges the lab's."""
    vectors = emrtd_dir / "port_server_vectors"
    dg15 = (vectors / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes()
    key = public_key(keys.PublicKeyInfo.load(parser.parse(dg15)[4]))
    data = json.loads((vectors / "aa_sigs.json").read_text())["ef.dg15_ef.sod_si_454CB206"]
    challenge = bytes.fromhex(data["challenge"])
    signatures = [bytes.fromhex(s) for s in data["csigs"]]
    assert aa_ok(key, challenge, signatures)
    assert not aa_ok(key, bytes(32), signatures)


@pytest.mark.parametrize(
    "label", ["rsa-rsa", "ec-ec", "rsa-pss-sha512", "ec-sha1-rsa2048", "rsa-sha384-plain"]
)
def test_simulated_chip_answers_verify_with_the_dg15_key(
    cards: dict[str, CardDump], lab_dir: Path, label: str
) -> None:
    card = cards[label]
    chip = SimulatedChip.from_dump(lab_dir / "cards" / label)
    challenge = os.urandom(32)
    signatures = chip.answer_challenge(challenge)
    assert len(signatures) == 4
    key = _dg15_key(card)
    assert aa_ok(key, challenge, signatures, card.meta["aa"]["hash"])
    assert not aa_ok(key, os.urandom(32), signatures, card.meta["aa"]["hash"])
    if isinstance(key, rsa.RSAPublicKey):
        assert all(len(s) == key.key_size // 8 for s in signatures)
    else:
        assert all(len(s) == 64 for s in signatures)


def test_rsa_representative_looks_like_a_real_chip(genuine: CardDump) -> None:
    key = genuine.aa_key
    assert isinstance(key, rsa.RSAPrivateKey)
    numbers = key.public_key().public_numbers()
    signature = iso9796_2_sign(key, b"12345678", "sha1", min_s=False)
    f = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(128, "big")
    assert f[0] == 0x6A and f[-1] == 0xBC
    assert len(f[1:-21]) == 106  # M1: the chip's nonce, as in the port server vectors
    sha256 = iso9796_2_sign(key, b"12345678", "sha256", min_s=False)
    g = pow(int.from_bytes(sha256, "big"), numbers.e, numbers.n).to_bytes(128, "big")
    assert g[0] == 0x6A and g[-2:] == b"\x34\xcc"


def test_min_s_makes_the_verifier_use_both_openings(genuine: CardDump) -> None:
    key = genuine.aa_key
    assert isinstance(key, rsa.RSAPrivateKey)
    n = key.public_key().public_numbers().n
    openings = set()
    for _ in range(40):
        signature = iso9796_2_sign(key, b"abcdefgh", "sha1", min_s=True)
        assert int.from_bytes(signature, "big") <= n // 2
        openings.add(verify_rsa_aa(key.public_key(), b"abcdefgh", signature))
    assert openings == {"J", "n-J"}


def test_internal_authenticate_takes_8_bytes(genuine: CardDump) -> None:
    chip = SimulatedChip(genuine.aa_key)
    with pytest.raises(ValueError, match="8 bytes"):
        chip.internal_authenticate(b"short")
    with pytest.raises(ValueError, match="multiple of 8"):
        chip.answer_challenge(b"x" * 12)


def test_aa_response_file(tmp_path: Path, genuine: CardDump) -> None:
    challenge = bytes(range(32))
    signatures = SimulatedChip(genuine.aa_key).answer_challenge(challenge)
    path = tmp_path / "aa.json"
    write_aa_response(path, challenge, signatures)
    data = json.loads(path.read_text())
    assert data == {"challenge": challenge.hex(), "signatures": [s.hex() for s in signatures]}

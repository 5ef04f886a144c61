from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cardlab_helpers import aa_ok, public_key, verify

from bhytgate_clients.cardlab import ATTACKS, AttackContext, CardDump, Pki, SimulatedChip, lds, sod

CHIP_FILES = ("EF.SOD", "DG1", "DG2", "DG13", "DG14", "DG15")
# which chip files each attack changes
CHANGES = {
    "dg13_edited": {"DG13"},
    "dg2_swapped": {"DG2"},
    "rogue_ds": {"DG13", "EF.SOD"},
    "ds_not_yet_valid": {"EF.SOD"},
    "ds_expired": {"EF.SOD"},
    "ds_revoked": {"EF.SOD"},
    "untrusted_csca": {"EF.SOD"},
    "cloned_chip": set(),
    "dg15_replaced": {"DG15"},
    "aa_replay": set(),
}


@pytest.fixture(scope="module")
def forged(
    cards: dict[str, CardDump], pki: Pki, other_photo: Path, lab_dir: Path
) -> dict[str, dict[str, CardDump]]:
    context = AttackContext(pki, other_photo=other_photo, other_sex="F")
    result: dict[str, dict[str, CardDump]] = {}
    for label in ("rsa-rsa", "ec-ec"):
        result[label] = {}
        for name, attack in ATTACKS.items():
            card = attack(cards[label], context)
            card.write(lab_dir / "attacks" / label / name)
            result[label][name] = card
    return result


def test_registry_is_complete_and_described() -> None:
    assert set(ATTACKS) == set(CHANGES)
    for name, attack in ATTACKS.items():
        assert attack.name == name and attack.description and attack.expect


@pytest.mark.parametrize("label", ["rsa-rsa", "ec-ec"])
def test_attacks_change_exactly_the_expected_files(
    cards: dict[str, CardDump], forged: dict[str, dict[str, CardDump]], label: str
) -> None:
    genuine = cards[label]
    for name, card in forged[label].items():
        changed = {f for f in CHIP_FILES if card.files[f] != genuine.files[f]}
        assert changed == CHANGES[name], name
        assert card.meta["attack"] == name and card.meta["expect"] == ATTACKS[name].expect
    assert genuine.meta["attack"] is None  # the genuine card is left alone


def _hash_mismatches(card: CardDump) -> set[int]:
    hash_name, hashes = sod.data_group_hashes(card.files["EF.SOD"])
    return {n for n, raw in card.data_groups.items() if hashlib.new(hash_name, raw).digest() != hashes[n]}


def _sod_signature_ok(card: CardDump) -> bool:
    signed = sod.content_info(card.files["EF.SOD"])["content"]
    signer = signed["signer_infos"][0]
    ds = signed["certificates"][0].chosen
    try:
        verify(
            public_key(ds.public_key),
            signer["signature"].native,
            signer["signed_attrs"].untag().dump(force=True),
            signer["signature_algorithm"],
        )
    except Exception:
        return False
    return True


def _ds(card: CardDump) -> object:
    return sod.content_info(card.files["EF.SOD"])["content"]["certificates"][0].chosen


@pytest.mark.parametrize("label", ["rsa-rsa", "ec-ec"])
def test_each_attack_breaks_its_check(forged: dict[str, dict[str, CardDump]], pki: Pki, label: str) -> None:
    cards = forged[label]
    kind = label.split("-")[0]
    for name, card in cards.items():
        assert _sod_signature_ok(card), f"{name}: the SOD signature itself stays valid"
    assert _hash_mismatches(cards["dg13_edited"]) == {13}
    assert _hash_mismatches(cards["dg2_swapped"]) == {2}
    assert _hash_mismatches(cards["dg15_replaced"]) == {15}
    for name in (
        "rogue_ds",
        "ds_not_yet_valid",
        "ds_expired",
        "ds_revoked",
        "untrusted_csca",
        "cloned_chip",
        "aa_replay",
    ):
        assert _hash_mismatches(cards[name]) == set(), name
    assert (
        lds.parse_dg13(cards["rogue_ds"].files["DG13"]).full_name
        != lds.parse_dg13(cards["ds_revoked"].files["DG13"]).full_name
    )
    assert _ds(cards["rogue_ds"]).dump() == pki.signer(kind, "rogue").der
    assert _ds(cards["untrusted_csca"]).issuer == pki.untrusted_csca.cert.subject
    revoked_serial = _ds(cards["ds_revoked"]).serial_number
    csca_role = "csca-1" if kind == "rsa" else "csca-2"
    revoked = {
        e["user_certificate"].native for e in pki.crls[csca_role]["tbs_cert_list"]["revoked_certificates"]
    }
    assert revoked_serial in revoked
    assert _ds(cards["ds_expired"]).not_valid_after.year == 2024
    assert _ds(cards["ds_not_yet_valid"]).not_valid_before.year == 2040


@pytest.mark.parametrize("label", ["rsa-rsa", "ec-ec"])
def test_active_authentication_attacks(
    forged: dict[str, dict[str, CardDump]], lab_dir: Path, label: str
) -> None:
    cards = forged[label]
    hash_name = cards["cloned_chip"].meta["aa"]["hash"]
    challenge = os.urandom(32)

    def answer(name: str) -> list[bytes]:
        return SimulatedChip.from_dump(lab_dir / "attacks" / label / name).answer_challenge(challenge)

    def dg15_key(name: str) -> object:
        return public_key(lds.dg15_public_key(cards[name].files["DG15"]))

    assert aa_ok(dg15_key("ds_expired"), challenge, answer("ds_expired"), hash_name)  # control
    assert not aa_ok(dg15_key("cloned_chip"), challenge, answer("cloned_chip"), hash_name)
    # DG15 replaced: AA itself verifies against the (unauthenticated) DG15 key
    assert aa_ok(dg15_key("dg15_replaced"), challenge, answer("dg15_replaced"), hash_name)
    replay = cards["aa_replay"].meta["replay"]
    recorded = bytes.fromhex(replay["challenge"])
    replayed = answer("aa_replay")
    assert [s.hex() for s in replayed] == replay["signatures"]
    assert aa_ok(dg15_key("aa_replay"), recorded, replayed, hash_name)  # genuine for the old challenge
    assert not aa_ok(dg15_key("aa_replay"), challenge, replayed, hash_name)


def test_dg2_swap_records_the_impostor(forged: dict[str, dict[str, CardDump]], other_photo: Path) -> None:
    card = forged["rsa-rsa"]["dg2_swapped"]
    assert card.meta["impostor_photo"] == str(other_photo)
    assert card.meta["live_photo"] == str(other_photo)
    assert lds.dg2_jpeg(card.files["DG2"]) == lds.chip_photo(other_photo).jpeg


def test_dg2_swapped_needs_a_photo(genuine: CardDump, pki: Pki) -> None:
    with pytest.raises(ValueError, match="other_photo"):
        ATTACKS["dg2_swapped"](genuine, AttackContext(pki))

"""Attack cards: each starts from a genuine dump and breaks exactly one thing a verifier must catch.

`expect` in each card.json is the verifier reason code that should appear (bhytgate.chip naming).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from . import lds
from .card import DG_FILES, SOD_FILE, CardDump, new_aa_key, sign_card, signing_time_within
from .chip import SimulatedChip
from .pki import Pki

EDITED_NAME = "Trần Văn Giả"  # what a fraudster writes into DG13 to borrow the card


@dataclasses.dataclass(frozen=True, slots=True)
class AttackContext:
    """What some attacks need beyond the genuine card."""

    pki: Pki
    other_photo: Path | None = None  # dg2_swapped: the impostor's chip photo
    other_live_photo: Path | None = None  # dg2_swapped: the impostor at the desk
    other_sex: str | None = None


AttackFn = Callable[[CardDump, AttackContext], CardDump]


@dataclasses.dataclass(frozen=True, slots=True)
class Attack:
    name: str
    description: str
    expect: str
    apply: AttackFn

    def __call__(self, card: CardDump, context: AttackContext) -> CardDump:
        forged = self.apply(card.copy(), context)
        forged.meta["attack"] = self.name
        forged.meta["expect"] = self.expect
        return forged


def _edit_dg13(card: CardDump) -> None:
    data = lds.parse_dg13(card.files["DG13"])
    card.files["DG13"] = lds.dg13(dataclasses.replace(data, full_name=EDITED_NAME))


def dg13_edited(card: CardDump, context: AttackContext) -> CardDump:
    _edit_dg13(card)
    return card


def dg2_swapped(card: CardDump, context: AttackContext) -> CardDump:
    if context.other_photo is None:
        raise ValueError("dg2_swapped needs another person's photo (other_photo)")
    sex = context.other_sex or str(card.meta.get("sex", "M"))
    card.files["DG2"] = lds.dg2(lds.chip_photo(context.other_photo), sex)
    card.meta["impostor_photo"] = str(context.other_photo)
    live = context.other_live_photo or context.other_photo
    card.meta["live_photo"] = str(live)
    return card


def _resign(card: CardDump, context: AttackContext, variant: str) -> CardDump:
    signer = context.pki.signer(card.meta["ds"]["kind"], variant)
    when = signing_time_within(signer, None)
    card.files[SOD_FILE] = sign_card(card.data_groups, signer, card.meta, when)
    card.meta["ds"] = {
        "kind": card.meta["ds"]["kind"],
        "role": signer.role,
        "serial": signer.cert.serial_number,
    }
    card.meta["sod"]["signing_time"] = when.isoformat()
    return card


def rogue_ds(card: CardDump, context: AttackContext) -> CardDump:
    _edit_dg13(card)
    return _resign(card, context, "rogue")


def ds_not_yet_valid(card: CardDump, context: AttackContext) -> CardDump:
    return _resign(card, context, "not_yet_valid")


def ds_expired(card: CardDump, context: AttackContext) -> CardDump:
    return _resign(card, context, "expired")


def ds_revoked(card: CardDump, context: AttackContext) -> CardDump:
    return _resign(card, context, "revoked")


def untrusted_csca(card: CardDump, context: AttackContext) -> CardDump:
    return _resign(card, context, "untrusted")


def cloned_chip(card: CardDump, context: AttackContext) -> CardDump:
    aa = card.meta["aa"]
    card.aa_key = new_aa_key(aa["kind"], aa.get("rsa_bits") or 1024)
    return card


def dg15_replaced(card: CardDump, context: AttackContext) -> CardDump:
    aa = card.meta["aa"]
    card.aa_key = new_aa_key(aa["kind"], aa.get("rsa_bits") or 1024)
    card.files[DG_FILES[15]] = lds.dg15(card.aa_key)
    return card


def aa_replay(card: CardDump, context: AttackContext) -> CardDump:
    aa = card.meta["aa"]
    chip = SimulatedChip(card.aa_key, aa_hash=aa["hash"], rsa_min_s=aa["rsa_min_s"])
    earlier = os.urandom(32)
    card.meta["replay"] = {
        "challenge": earlier.hex(),
        "signatures": [s.hex() for s in chip.answer_challenge(earlier)],
    }
    return card


ATTACKS: dict[str, Attack] = {
    attack.name: attack
    for attack in (
        Attack(
            "dg13_edited",
            "DG13 (personal data) edited after signing; SOD unchanged",
            "dg13_hash_mismatch",
            dg13_edited,
        ),
        Attack(
            "dg2_swapped",
            "DG2 replaced with another person's photo; SOD unchanged",
            "dg2_hash_mismatch",
            dg2_swapped,
        ),
        Attack(
            "rogue_ds",
            "DG13 edited, SOD re-signed by a self-made DS with the genuine DS's subject and issuer names",
            "ds_signature_invalid",
            rogue_ds,
        ),
        Attack(
            "ds_not_yet_valid",
            "SOD signed by a DS whose validity starts in the future",
            "ds_not_yet_valid",
            ds_not_yet_valid,
        ),
        Attack("ds_expired", "SOD signed by a DS whose validity has ended", "ds_expired", ds_expired),
        Attack("ds_revoked", "SOD signed by a DS listed on its CSCA's CRL", "ds_revoked", ds_revoked),
        Attack(
            "untrusted_csca",
            "SOD signed by a DS issued by a CSCA outside the trust store",
            "csca_not_found",
            untrusted_csca,
        ),
        Attack(
            "cloned_chip",
            "all files copied to a chip without the AA private key",
            "aa_signature_invalid",
            cloned_chip,
        ),
        Attack(
            "dg15_replaced",
            "DG15 replaced by the attacker's AA key, which the chip uses; SOD unchanged",
            "dg15_hash_mismatch",
            dg15_replaced,
        ),
        Attack(
            "aa_replay",
            "the chip returns AA signatures recorded for an earlier, different challenge",
            "aa_signature_invalid",
            aa_replay,
        ),
    )
}


def apply_attack(name: str, card: CardDump, context: AttackContext) -> CardDump:
    try:
        attack = ATTACKS[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None
    return attack(card, context)

"""The demo set: one genuine card per identity in ../shared/faces, plus one card per attack."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from . import attacks, card, citizens
from . import pki as pki_lib


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSummary:
    genuine: int
    attacks: int


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def build_demo(out: Path, faces_dir: Path) -> DemoSummary:
    """Write `pki/`, `cards/<nn>-<identity>/`, `attacks/<attack>/` and `entitlements.jsonl` under `out`.

    Identities with two or more photos get a card (first photo as DG2, second as live capture);
    cards alternate RSA/EC for both DS and AA keys so both paths get exercised.
    """
    identities = [i for i in citizens.load_identities(faces_dir) if len(i.photos) >= 2]
    if len(identities) < 2:
        raise ValueError(f"{faces_dir}: need at least two identities with two photos each")
    pki = pki_lib.ensure_pki(out / "pki")
    records: list[dict[str, object]] = []
    genuine: list[tuple[citizens.Identity, card.CardDump]] = []
    for index, identity in enumerate(identities):
        kind: card.Kind = "rsa" if index % 2 == 0 else "ec"
        citizen = citizens.make_citizen(index, sex=identity.sex)
        options = card.IssueOptions(ds=kind, aa=kind)
        dump = card.issue_card(
            pki, citizen, identity.photos[0], options, live_photo=identity.photos[1], seed=index
        )
        dump.meta["identity"] = identity.name
        dump.write(out / "cards" / f"{index:02d}-{_slug(identity.name)}")
        records.append(dump.entitlement)
        genuine.append((identity, dump))
    victim = genuine[0][1]
    impostor_identity = genuine[1][0]
    context = attacks.AttackContext(
        pki,
        other_photo=impostor_identity.photos[0],
        other_live_photo=impostor_identity.photos[1],
        other_sex=impostor_identity.sex,
    )
    for name, attack in attacks.ATTACKS.items():
        attack(victim, context).write(out / "attacks" / name)
    # An EC-chip replay as well: the AA path differs by key type.
    ec_victim = genuine[1][1]
    attacks.ATTACKS["aa_replay"](ec_victim, context).write(out / "attacks" / "aa_replay-ec")
    attacks.ATTACKS["cloned_chip"](ec_victim, context).write(out / "attacks" / "cloned_chip-ec")
    with (out / "entitlements.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return DemoSummary(genuine=len(genuine), attacks=len(attacks.ATTACKS) + 2)

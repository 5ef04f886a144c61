"""Issue a card dump: the chip's elementary files plus the lab-only secrets and metadata.

A dump directory holds `EF.SOD`, `DG1`, `DG2`, `DG13`, `DG14`, `DG15` (raw, outer tag included),
and lab-only `chip_aa_key.pem`, `chip_ca_key.pem`, `card.json`, `entitlement.json`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from . import crypto, lds, mrz
from .chip import AA_KEY_FILE, CARD_FILE
from .citizens import NATIONALITY, Citizen, entitlement_for, entitlement_json
from .crypto import PrivateKey, RsaScheme
from .pki import Issuer, Pki
from .sod import build_sod

FORMAT = "bhytgate-cardlab/1"
SOD_FILE = "EF.SOD"
CA_KEY_FILE = "chip_ca_key.pem"
ENTITLEMENT_FILE = "entitlement.json"
DG_FILES: dict[int, str] = {1: "DG1", 2: "DG2", 13: "DG13", 14: "DG14", 15: "DG15"}
CHIP_FILES = (SOD_FILE, *DG_FILES.values())
Kind = Literal["rsa", "ec"]


@dataclasses.dataclass(frozen=True, slots=True)
class IssueOptions:
    """How the card is made; the defaults mirror a typical chip (RSA-1024 AA with SHA-1, SHA-256 SOD)."""

    ds: Kind = "rsa"
    hash: str = "sha256"  # SOD hash and signature hash
    rsa_scheme: RsaScheme = "pkcs1"  # for an RSA DS: PKCS#1 v1.5 or RSASSA-PSS
    aa: Kind = "rsa"
    aa_rsa_bits: int = 1024
    aa_hash: str | None = None  # None: sha1 for RSA (trailer 0xBC), sha256 for EC
    aa_rsa_min_s: bool = True  # send min(s, n-s) as ISO/IEC 9796-2 says
    chip_authentication: bool = True  # a CA key in DG14
    signing_time: dt.datetime | None = None  # None: now
    today: dt.date | None = None  # for the entitlement's validity; None: today

    @property
    def effective_aa_hash(self) -> str:
        return self.aa_hash or ("sha1" if self.aa == "rsa" else "sha256")


@dataclasses.dataclass(slots=True)
class CardDump:
    """A card in memory. `files` are the chip's EFs by name; the rest never leaves the lab."""

    files: dict[str, bytes]
    aa_key: PrivateKey
    meta: dict[str, Any]
    entitlement: dict[str, Any]
    ca_key: PrivateKey | None = None

    @property
    def data_groups(self) -> dict[int, bytes]:
        return {n: self.files[name] for n, name in DG_FILES.items() if name in self.files}

    def copy(self) -> CardDump:
        meta = json.loads(json.dumps(self.meta))
        return CardDump(dict(self.files), self.aa_key, meta, dict(self.entitlement), self.ca_key)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, raw in self.files.items():
            (directory / name).write_bytes(raw)
        crypto.save_key(self.aa_key, directory / AA_KEY_FILE)
        if self.ca_key is not None:
            crypto.save_key(self.ca_key, directory / CA_KEY_FILE)
        (directory / CARD_FILE).write_text(
            json.dumps(self.meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        (directory / ENTITLEMENT_FILE).write_text(
            json.dumps(self.entitlement, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> CardDump:
        if not (directory / SOD_FILE).is_file():
            raise FileNotFoundError(f"{directory} is not a card dump (no {SOD_FILE})")
        files = {name: (directory / name).read_bytes() for name in CHIP_FILES if (directory / name).is_file()}
        ca_path = directory / CA_KEY_FILE
        return cls(
            files=files,
            aa_key=crypto.load_key(directory / AA_KEY_FILE),
            meta=json.loads((directory / CARD_FILE).read_text(encoding="utf-8")),
            entitlement=json.loads((directory / ENTITLEMENT_FILE).read_text(encoding="utf-8")),
            ca_key=crypto.load_key(ca_path) if ca_path.is_file() else None,
        )


def dg13_data(citizen: Citizen) -> lds.DG13Data:
    return lds.DG13Data(
        id_number=citizen.cccd,
        full_name=citizen.full_name,
        date_of_birth=lds.dd_mm_yyyy(citizen.date_of_birth),
        sex="Nam" if citizen.sex == "M" else "Nữ",
        nationality=NATIONALITY,
        ethnicity=citizen.ethnicity,
        religion=citizen.religion,
        place_of_origin=citizen.place_of_origin,
        place_of_residence=citizen.place_of_residence,
        identifying_marks=citizen.identifying_marks,
        issue_date=lds.dd_mm_yyyy(citizen.issue_date),
        expiry_date=lds.dd_mm_yyyy(citizen.expiry_date) if citizen.expiry_date else "Không thời hạn",
        father=citizen.father,
        mother=citizen.mother,
        spouse=citizen.spouse,
        old_id_number=citizen.old_id,
        opaque=citizen.opaque,
    )


def td1(citizen: Citizen) -> mrz.TD1:
    return mrz.cccd_td1(
        cccd_number=citizen.cccd,
        date_of_birth=citizen.date_of_birth,
        sex=citizen.sex,
        date_of_expiry=citizen.expiry_date,
        family_name=citizen.family_name,
        given_names=citizen.given_names,
    )


def new_aa_key(kind: str, rsa_bits: int = 1024) -> PrivateKey:
    return crypto.new_rsa(rsa_bits) if kind == "rsa" else crypto.new_ec("secp256r1")


def signing_time_within(signer: Issuer, wanted: dt.datetime | None) -> dt.datetime:
    """Now (or `wanted`), moved inside the DS validity: a DS only signs while its key is in use."""
    when = (wanted or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    validity = signer.cert["tbs_certificate"]["validity"]
    start: dt.datetime = validity["not_before"].native
    end: dt.datetime = validity["not_after"].native
    return min(max(when, start + dt.timedelta(days=1)), end - dt.timedelta(days=1))


def sign_card(
    data_groups: Mapping[int, bytes],
    signer: Issuer,
    meta: Mapping[str, Any],
    signing_time: dt.datetime | None = None,
) -> bytes:
    """(Re-)sign data groups the way `meta` says this card's SOD was made."""
    sod_meta = meta["sod"]
    when = signing_time or dt.datetime.fromisoformat(sod_meta["signing_time"])
    return build_sod(
        data_groups, signer, hash_name=sod_meta["hash"], rsa_scheme=sod_meta["rsa_scheme"], signing_time=when
    )


def issue_card(
    pki: Pki,
    citizen: Citizen,
    photo: Path,
    options: IssueOptions | None = None,
    *,
    live_photo: Path | None = None,
    seed: int | str | None = None,
) -> CardDump:
    """A genuine card for `citizen` with `photo` as DG2, signed by the PKI's genuine DS."""
    options = options or IssueOptions()
    crypto.hash_algorithm(options.hash)
    aa_hash = options.effective_aa_hash
    if options.aa == "rsa":
        from .chip import iso9796_2_trailer

        iso9796_2_trailer(aa_hash)
    signer = pki.signer(options.ds)
    aa_key = new_aa_key(options.aa, options.aa_rsa_bits)
    ca_key = crypto.new_ec("secp256r1") if options.chip_authentication else None
    picture = lds.chip_photo(photo)
    groups = {
        1: lds.dg1(td1(citizen)),
        2: lds.dg2(picture, citizen.sex),
        13: lds.dg13(dg13_data(citizen)),
        14: lds.dg14(aa_key.public_key(), aa_hash, ca_key.public_key() if ca_key else None),
        15: lds.dg15(aa_key),
    }
    when = signing_time_within(signer, options.signing_time)
    files = {DG_FILES[n]: raw for n, raw in groups.items()}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "citizen_id": citizen.cccd,
        "full_name": citizen.full_name,
        "sex": citizen.sex,
        "seed": seed,
        "attack": None,
        "expect": "genuine",
        "photo_source": str(photo),
        "live_photo": str(live_photo) if live_photo else None,
        "dg2_size": [picture.width, picture.height],
        "ds": {"kind": options.ds, "role": signer.role, "serial": signer.cert.serial_number},
        "sod": {"hash": options.hash, "rsa_scheme": options.rsa_scheme, "signing_time": when.isoformat()},
        "aa": {
            "kind": options.aa,
            "hash": aa_hash,
            "rsa_bits": options.aa_rsa_bits if options.aa == "rsa" else None,
            "rsa_min_s": options.aa_rsa_min_s,
        },
        "replay": None,
    }
    files[SOD_FILE] = sign_card(groups, signer, meta)
    entitlement = entitlement_json(
        entitlement_for(citizen, seed if seed is not None else citizen.cccd, options.today)
    )
    return CardDump(files=files, aa_key=aa_key, meta=meta, entitlement=entitlement, ca_key=ca_key)

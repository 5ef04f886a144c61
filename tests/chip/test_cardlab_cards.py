"""The verifier against the card lab: every genuine card passes, every attack fails with its reason.

The lab issues cards independently of the verifier (asn1crypto + cryptography on the issuing side),
so agreement here means both follow ICAO 9303, not that one mirrors the other.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest

from bhytgate.chip import RevocationPolicy, TrustStore, load_dump, verify_chip
from bhytgate.chip.passive import PassivePolicy
from bhytgate.chip.verify import ChipPolicy, ChipReport
from bhytgate_clients.cardlab import (
    ATTACKS,
    AttackContext,
    CardDump,
    IssueOptions,
    Pki,
    SimulatedChip,
    create_pki,
    issue_card,
    make_citizen,
    write_pki,
)

GENUINE_VARIANTS: dict[str, IssueOptions] = {
    "rsa-ds_rsa-aa_sha256": IssueOptions(),
    "ec-ds_ec-aa_sha256": IssueOptions(ds="ec", aa="ec"),
    "rsa-pss-ds_sha384": IssueOptions(rsa_scheme="pss", hash="sha384"),
    "ec-ds_sha512_rsa2048-aa_sha256-trailer": IssueOptions(
        ds="ec", hash="sha512", aa_rsa_bits=2048, aa_hash="sha256"
    ),
    "rsa-ds_sha1_plain-s": IssueOptions(hash="sha1", aa_rsa_min_s=False),
    "ec-aa_sha384": IssueOptions(aa="ec", aa_hash="sha384", chip_authentication=False),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Path, TrustStore]:
    root = tmp_path_factory.mktemp("pki")
    pki = write_pki(create_pki(), root)
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    return pki, root, store


@pytest.fixture(scope="module")
def photos(faces_dir: Path) -> dict[str, Path]:
    examples = faces_dir / "face_recognition" / "examples"
    return {"obama": examples / "obama.jpg", "biden": examples / "biden.jpg"}


def _verify(card_dir: Path, store: TrustStore, **kw: object) -> ChipReport:
    challenge = secrets.token_bytes(32)
    signatures = SimulatedChip.from_dump(card_dir).answer_challenge(challenge)
    return verify_chip(load_dump(card_dir), store, challenge=challenge, aa_signatures=signatures, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", sorted(GENUINE_VARIANTS))
def test_genuine_cards_pass(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path], tmp_path: Path, variant: str
) -> None:
    pki, _, store = lab
    card = issue_card(pki, make_citizen(3), photos["obama"], GENUINE_VARIANTS[variant])
    report = _verify(card.write(tmp_path / "card"), store)
    assert report.passive.valid, report.to_json()["passive"]
    assert report.active is not None and report.active.valid, report.active
    assert all(report.passive.data_groups[n] == "match" for n in (1, 2, 13, 14, 15))
    # CRLs are loaded and fresh: no revocation warnings
    assert "crl_missing" not in report.passive.warnings and "crl_stale" not in report.passive.warnings
    doc = report.document
    assert doc.mrz is not None and doc.mrz.format == "TD1" and doc.mrz.issuing_state == "VNM"
    assert doc.dg13 is not None and doc.dg13.get("id_number") == doc.mrz.optional_data[:12]
    assert doc.face is not None and doc.face.format == "jpeg"
    assert len(doc.dg13.parents) == 2


def _reason(report: ChipReport) -> str:
    passive = report.passive
    for status_dg in (13, 2, 15):
        if passive.data_groups.get(status_dg) == "mismatch":
            return f"dg{status_dg}_hash_mismatch"
    if passive.chain.reason:
        return passive.chain.reason
    if passive.signature.reason:
        return passive.signature.reason
    assert report.active is not None
    return report.active.reason or "genuine"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_every_attack_is_rejected_with_its_own_reason(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path], tmp_path: Path, attack: str, kind: str
) -> None:
    pki, _, store = lab
    genuine: CardDump = issue_card(pki, make_citizen(11), photos["obama"], IssueOptions(ds=kind, aa=kind))  # type: ignore[arg-type]
    forged = ATTACKS[attack](genuine, AttackContext(pki, other_photo=photos["biden"]))
    report = _verify(forged.write(tmp_path / attack), store)
    assert not report.valid
    assert _reason(report) == ATTACKS[attack].expect, report.to_json()
    if attack in ("cloned_chip", "aa_replay"):
        # the data is genuine: only the chip proof fails
        assert report.passive.valid
        assert report.active is not None and report.active.reason == "aa_signature_invalid"
    if attack == "dg15_replaced":
        assert report.active is not None and report.active.reason == "aa_key_unauthenticated"


def test_link_certificate_is_followed(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path], tmp_path: Path
) -> None:
    """Trusting only CSCA-1, an EC DS issued by CSCA-2 verifies through the CSCA-1 -> CSCA-2 link
    when the link is kept as a link (not an anchor: configured links are anchors, issue 13)."""
    pki, root, _ = lab
    only_one = TrustStore.from_paths([root / "trust" / "csca-1.der"])
    only_one.add_certificate((root / "trust" / "link-csca-1-csca-2.der").read_bytes(), anchor=False)
    assert len(only_one.anchors) == 1 and len(only_one.links) == 1
    card = issue_card(pki, make_citizen(5), photos["obama"], IssueOptions(ds="ec", aa="ec"))
    report = _verify(card.write(tmp_path / "card"), only_one)
    assert report.passive.chain.valid, report.passive.chain
    assert len(report.passive.chain.path) == 3
    without_link = TrustStore.from_paths([root / "trust" / "csca-1.der"])
    assert _verify(tmp_path / "card", without_link).passive.chain.reason == "csca_not_found"


def test_revocation_policies(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path], tmp_path: Path
) -> None:
    pki, root, _ = lab
    card = issue_card(pki, make_citizen(6), photos["obama"])
    card_dir = card.write(tmp_path / "card")
    no_crl = TrustStore.from_paths([root / "trust"])
    assert "crl_missing" in _verify(card_dir, no_crl).passive.warnings
    strict = ChipPolicy(passive=PassivePolicy(revocation=RevocationPolicy(require_crl=True)))
    assert _verify(card_dir, no_crl, policy=strict).passive.chain.reason == "crl_missing"
    # the same CRLs, checked long after their nextUpdate: stale, warned or rejected per policy
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365)
    with_crl = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    lenient = _verify(card_dir, with_crl, at=late)
    if lenient.passive.chain.valid:
        assert "crl_stale" in lenient.passive.warnings
    reject = ChipPolicy(passive=PassivePolicy(revocation=RevocationPolicy(stale_crl="reject")))
    assert _verify(card_dir, with_crl, at=late, policy=reject).passive.chain.reason in (
        "crl_stale",
        "ds_expired",
    )


def test_country_mismatch_between_dg1_and_signer(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path], tmp_path: Path
) -> None:
    """A SOD properly signed by the VN Document Signer over a DG1 that claims Thailand must not pass."""
    from bhytgate.chip.passive import alpha2
    from bhytgate_clients.cardlab import lds, mrz, sod

    assert alpha2("VNM") == "VN" and alpha2("D<<") == "DE" and alpha2("XYZ") is None
    pki, _, store = lab
    card = issue_card(pki, make_citizen(8), photos["obama"])
    td1 = mrz.cccd_td1(
        cccd_number=card.meta["citizen_id"],
        date_of_birth=dt.date(1990, 1, 1),
        sex="M",
        date_of_expiry=dt.date(2035, 1, 1),
        family_name="NGUYEN",
        given_names="AN",
        issuing_state="THA",
    )
    card.files["DG1"] = lds.dg1(td1)
    card.files["EF.SOD"] = sod.build_sod(card.data_groups, pki.signer("rsa"))
    report = _verify(card.write(tmp_path / "card"), store)
    assert report.passive.signature.valid and report.passive.chain.valid
    assert report.passive.country.reason == "country_mismatch"
    assert not report.passive.valid


def _resign_with_content_type(card: CardDump, pki: Pki, content_type: str) -> bytes:
    """The card's EF.SOD with another eContentType (and the matching signed attribute), re-signed
    by the genuine Document Signer."""
    from asn1crypto import cms, core

    from bhytgate_clients.cardlab import crypto

    info = cms.ContentInfo.load(core.load(card.files["EF.SOD"]).contents)
    signed = info["content"]
    econtent = bytes(signed["encap_content_info"]["content"].native)
    signed["encap_content_info"] = cms.EncapsulatedContentInfo(
        {"content_type": content_type, "content": cms.ParsableOctetString(econtent)}
    )
    signer_info = signed["signer_infos"][0]
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]} if a["type"].native == "content_type" else a
            for a in signer_info["signed_attrs"]
        ]
    )
    signer_info["signed_attrs"] = attrs
    signer = pki.signer("rsa")
    signer_info["signature"] = crypto.sign(signer.key, attrs.dump(), "sha256")
    wrapped = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump(force=True)
    outer = core.Asn1Value(class_="application", tag=23, contents=wrapped)
    outer.method = 1  # constructed: EF.SOD is [APPLICATION 23] around the ContentInfo
    return bytes(outer.dump())


def test_id_data_content_type_only_in_lenient_mode(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path], tmp_path: Path
) -> None:
    pki, _, store = lab
    card = issue_card(pki, make_citizen(9), photos["obama"])
    card.files["EF.SOD"] = _resign_with_content_type(card, pki, "data")
    card_dir = card.write(tmp_path / "card")
    strict = _verify(card_dir, store)
    assert strict.passive.signature.reason == "sod_content_type_invalid"
    lenient = ChipPolicy(passive=PassivePolicy(allow_id_data=True))
    report = _verify(card_dir, store, policy=lenient)
    assert report.passive.signature.valid, report.passive.signature
    assert report.passive.valid


def test_a_document_signer_cannot_sign_a_master_list(
    lab: tuple[Pki, Path, TrustStore], photos: dict[str, Path]
) -> None:
    """A CMS of content type cscaMasterList, validly signed by a trusted DS: refused (no ML-signer EKU)."""
    from asn1crypto import core

    from bhytgate.chip.errors import TrustStoreError

    pki, root, _ = lab
    store = TrustStore.from_paths([root / "trust"])
    card = issue_card(pki, make_citizen(2), photos["obama"])
    signed = _resign_with_content_type(card, pki, "2.23.136.1.1.2")
    with pytest.raises(TrustStoreError) as err:
        store.add_master_list(core.load(signed).contents)
    assert err.value.reason == "master_list_untrusted"
    assert "cscaMasterListSigningKey" in err.value.message

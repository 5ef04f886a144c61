"""Issue 13: real documents and trust set-ups that differ from the textbook must verify.

Each case is a card-lab variant (clients/bhytgate_clients/cardlab/variants.py): signer names with
reordered RDNs, a link certificate as the only anchor, a master list signed after the document.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhytgate.chip import TrustStore, load_dump, verify_chip
from bhytgate.chip.crypto.cms import find_signer_certificate
from bhytgate.chip.errors import TrustStoreError
from bhytgate.chip.lds.sod import parse_sod
from bhytgate.chip.verify import ChipReport
from bhytgate_clients.cardlab import (
    IssueOptions,
    Pki,
    SimulatedChip,
    create_pki,
    issue_card,
    make_citizen,
    write_pki,
)
from bhytgate_clients.cardlab import variants as v
from bhytgate_clients.cardlab.card import CardDump

UTC = dt.UTC


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Path]:
    root = tmp_path_factory.mktemp("pki")
    return write_pki(create_pki(), root), root


@pytest.fixture(scope="module")
def photo(faces_dir: Path) -> Path:
    return faces_dir / "face_recognition" / "examples" / "obama.jpg"


def _verify(card: CardDump, where: Path, store: TrustStore, **kw: object) -> ChipReport:
    card_dir = card.write(where)
    challenge = secrets.token_bytes(32)
    signatures = SimulatedChip.from_dump(card_dir).answer_challenge(challenge)
    return verify_chip(load_dump(card_dir), store, challenge=challenge, aa_signatures=signatures, **kw)  # type: ignore[arg-type]


# --- 1. signer lookup by X.500 name equality --------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_signer_found_when_signerinfo_reorders_issuer_rdns(
    lab: tuple[Pki, Path], photo: Path, tmp_path: Path, kind: str
) -> None:
    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    card = v.issuer_rdns_reordered(issue_card(pki, make_citizen(4), photo, IssueOptions(ds=kind)), pki)
    sod = parse_sod(card.files["EF.SOD"])
    sid_issuer = sod.signed.signer_info["sid"].chosen["issuer"]
    ds = pki.signer(kind).cert
    assert [r.dump() for r in sid_issuer.chosen] == [r.dump() for r in reversed(list(ds.issuer.chosen))]
    # found by name (as a set of RDNs), not only by the key fallback
    found = find_signer_certificate(sod.signed.signer_info, sod.signed.certificates)
    assert found is not None and found.serial == ds.serial_number
    report = _verify(card, tmp_path / "card", store)
    assert report.passive.valid, report.to_json()["passive"]
    assert report.active is not None and report.active.valid


def test_signer_found_by_key_when_no_name_matches(lab: tuple[Pki, Path], photo: Path, tmp_path: Path) -> None:
    from asn1crypto import x509

    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    card = issue_card(pki, make_citizen(5), photo)
    other = x509.Name.build({"country_name": "VN", "common_name": "Some Other Name"})
    card = v._resign(card, pki, sid_issuer=other)
    sod = parse_sod(card.files["EF.SOD"])
    assert find_signer_certificate(sod.signed.signer_info, sod.signed.certificates) is None
    report = _verify(card, tmp_path / "card", store)
    assert report.passive.valid, report.to_json()["passive"]


def test_wrong_key_and_wrong_name_is_still_not_found(
    lab: tuple[Pki, Path], photo: Path, tmp_path: Path
) -> None:
    """The key fallback is no bypass: a SOD whose certificate did not sign it has no signer."""
    from asn1crypto import x509

    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    card = issue_card(pki, make_citizen(5), photo)
    other = x509.Name.build({"country_name": "VN", "common_name": "Some Other Name"})
    card = v._resign(card, pki, sid_issuer=other)
    raw = bytearray(card.files["EF.SOD"])
    raw[-10] ^= 0x01  # inside the signature value (the last field of the SignerInfo)
    card.files["EF.SOD"] = bytes(raw)
    report = _verify(card, tmp_path / "card", store)
    assert report.passive.signature.reason == "signer_certificate_not_found"


# --- 2. a link certificate as the only anchor -------------------------------------------------------


def test_link_certificate_as_the_only_anchor(lab: tuple[Pki, Path], photo: Path, tmp_path: Path) -> None:
    pki, _ = lab
    trust = v.link_only_trust(pki, tmp_path / "trust")
    store = TrustStore.from_paths([trust])
    assert len(store.anchors) == 1 and not store.anchors[0].self_issued
    card = issue_card(pki, make_citizen(6), photo, IssueOptions(ds="ec"))  # DS issued by csca-2's key
    report = _verify(card, tmp_path / "card", store)
    assert report.passive.valid, report.to_json()["passive"]
    assert len(report.passive.chain.path) == 2  # DS -> the link certificate, the anchor
    assert report.passive.chain.csca is not None and not report.passive.chain.csca.self_issued


def test_link_certificate_kept_as_link_needs_an_anchor(
    lab: tuple[Pki, Path], photo: Path, tmp_path: Path
) -> None:
    pki, _ = lab
    store = TrustStore()
    store.add_certificate(bytes(pki.link.dump()), anchor=False)
    card = issue_card(pki, make_citizen(6), photo, IssueOptions(ds="ec"))
    report = _verify(card, tmp_path / "card", store)
    assert report.passive.chain.reason == "csca_not_found"


# --- 3. master lists and CRLs verified when loaded, the document at its own date -----------------


def test_master_list_signed_after_the_document_date(
    lab: tuple[Pki, Path], photo: Path, tmp_path: Path
) -> None:
    pki, root = lab
    now = dt.datetime.now(UTC).replace(microsecond=0)
    signer = v.master_list_signer(pki, now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    ml_path = tmp_path / "list.ml"
    ml_path.write_bytes(v.master_list(signer, [pki.csca["csca-2"].cert], now))
    signed_at = dt.datetime(2025, 3, 1, tzinfo=UTC)
    card = issue_card(pki, make_citizen(7), photo, IssueOptions(ds="ec", signing_time=signed_at))
    store = TrustStore.from_paths([root / "csca" / "csca-1.der"], [ml_path], [root / "crl"])
    assert len(store.anchors) == 2
    at = dt.datetime(2025, 3, 2, 12, tzinfo=UTC)
    report = _verify(card, tmp_path / "card", store, at=at)
    assert report.passive.valid, report.to_json()["passive"]
    # and the document is still judged at its own date: its DS is not valid in 2024
    early = _verify(card, tmp_path / "card2", store, at=dt.datetime(2024, 6, 1, tzinfo=UTC))
    assert early.passive.chain.reason == "ds_not_yet_valid"
    # a master list whose signer is not valid now is refused when loaded
    stale = v.master_list_signer(pki, now - dt.timedelta(days=400), now - dt.timedelta(days=30))
    with pytest.raises(TrustStoreError) as err:
        TrustStore.from_paths([root / "csca" / "csca-1.der"]).add_master_list(
            v.master_list(stale, [pki.csca["csca-2"].cert], now - dt.timedelta(days=60))
        )
    assert err.value.reason == "master_list_untrusted"

    # the same through `bhytgate chip verify --at`
    from bhytgate_clients.cli import main

    card_dir = tmp_path / "card"
    args = ["chip", "verify", str(card_dir), "--csca", str(root / "csca" / "csca-1.der")]
    args += ["--master-list", str(ml_path), "--crl", str(root / "crl"), "--at", "2025-03-02", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["passive"]["valid"] and out["passive"]["chain"]["valid"]


def test_crl_signature_checked_when_loaded(lab: tuple[Pki, Path]) -> None:
    _, root = lab
    store = TrustStore.from_paths([root / "trust"])
    good = (root / "crl" / "csca-1.crl").read_bytes()
    store.add_crl(good)
    bad = bytearray(good)
    bad[-5] ^= 0x01
    with pytest.raises(TrustStoreError) as err:
        store.add_crl(bytes(bad))
    assert err.value.reason == "crl_signature_invalid"
    # a CRL whose issuer is not (yet) trusted is kept and checked when used
    TrustStore().add_crl(bytes(bad))


# --- 5. the 2024 Căn cước card -----------------------------------------------------------------------


def test_2024_dg13_keeps_ciphertext_opaque(lab: tuple[Pki, Path], photo: Path, tmp_path: Path) -> None:
    from bhytgate.service.credentials.chip import holder_number

    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    citizen = make_citizen(8)
    genuine = issue_card(pki, citizen, photo)
    card = v.dg13_2024(genuine, pki)
    report = _verify(card, tmp_path / "a", store)
    assert report.passive.valid and report.passive.data_groups[13] == "match"
    dg13 = report.document.dg13
    assert dg13 is not None and "DG13" not in report.document.errors
    assert dg13.get("id_number") == citizen.cccd and dg13.get("full_name") == citizen.full_name
    assert dg13.get("place_of_residence") is None and dg13.get("religion") is None
    assert {6, 7, 9, 10, 11, 13, 14, 15, 16, 17} <= set(dg13.unknown)
    assert holder_number(report.document) == citizen.cccd
    # the number unreadable in DG13: taken from DG1's optional data
    no_id = _verify(v.dg13_2024(genuine, pki, readable_id=False), tmp_path / "b", store)
    assert no_id.passive.valid and no_id.document.dg13 is not None
    assert no_id.document.dg13.get("id_number") is None
    assert holder_number(no_id.document) == citizen.cccd
    # DG13 wholly encrypted: a parse note, never a failure; the number from DG1
    blob = _verify(v.dg13_unreadable(genuine, pki), tmp_path / "c", store)
    assert blob.passive.valid and blob.document.dg13 is None and "DG13" in blob.document.errors
    assert holder_number(blob.document) == citizen.cccd


def test_card_without_face_passes_pa_and_aa(lab: tuple[Pki, Path], photo: Path, tmp_path: Path) -> None:
    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    card = v.without_face(issue_card(pki, make_citizen(9), photo), pki)
    report = _verify(card, tmp_path / "card", store)
    assert report.valid and 2 not in report.passive.data_groups and report.document.face is None


def test_an_expired_link_anchor_does_not_hide_a_valid_csca(
    lab: tuple[Pki, Path], photo: Path, tmp_path: Path
) -> None:
    """Configured links are anchors; where a self-signed CSCA holds the same key and is valid,
    an expired link certificate for that key must not make the chain fail."""
    import datetime as dt

    from bhytgate_clients.cardlab.pki import build_certificate

    pki, _ = lab
    csca1, csca2 = pki.csca["csca-1"], pki.csca["csca-2"]
    expired_link = build_certificate(
        subject=csca2.cert.subject,
        subject_key=csca2.cert.public_key,
        issuer=csca1.cert.subject,
        issuer_key=csca1.key,
        issuer_key_id=csca1.cert.key_identifier,
        not_before=dt.datetime(2015, 1, 1, tzinfo=UTC),
        not_after=dt.datetime(2020, 1, 1, tzinfo=UTC),
        ca=True,
    )
    store = TrustStore()
    store.add_certificate(bytes(expired_link.dump()))
    card = issue_card(pki, make_citizen(6), photo, IssueOptions(ds="ec"))
    only_expired = _verify(card, tmp_path / "a", store)
    assert only_expired.passive.chain.reason == "csca_expired"
    store.add_certificate(csca2.der)
    report = _verify(card, tmp_path / "b", store)
    assert report.passive.valid, report.to_json()["passive"]


# --- reader padding: bytes after a file's TLV ---------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "pad"), [("DG1", b"\x00" * 8), ("DG2", b"\xff" * 100), ("DG15", b"\x00" * 16)]
)
def test_a_padded_data_group_is_named_as_padding_never_as_forgery(
    lab: tuple[Pki, Path], photo: Path, group: str, pad: bytes
) -> None:
    # A reader that returns a data group's file up to its allocated size sends bytes after the
    # TLV. The data group is still refused (only the signed bytes count), but it is not "forged":
    # DATA_GROUP_HASH_MISMATCH sent the holder away as a fraud suspect for a reader's habit.
    from bhytgate.chip.dump import dump_from_files
    from bhytgate.service.reasons import chip_reasons

    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    card = issue_card(pki, make_citizen(10), photo)
    files = dict(card.files)
    files[group] += pad
    report = verify_chip(dump_from_files(files), store)
    number = int(group[2:])
    assert not report.valid and report.passive.data_groups[number] == "mismatch"
    assert report.passive.trailing_bytes == {number: len(pad)}
    assert [(r.code, f"{len(pad)} bytes after its TLV" in r.detail) for r in chip_reasons(report)] == [
        ("CHIP_DATA_MALFORMED", True)
    ]
    # An edited data group, padded or not, stays a hash mismatch.
    files[group] = card.files[group][:-1] + bytes([card.files[group][-1] ^ 1]) + pad
    report = verify_chip(dump_from_files(files), store)
    assert report.passive.trailing_bytes == {}
    assert [r.code for r in chip_reasons(report)] == ["DATA_GROUP_HASH_MISMATCH"]


def test_a_padded_ef_sod_says_so(lab: tuple[Pki, Path], photo: Path) -> None:
    from bhytgate.chip.dump import dump_from_files
    from bhytgate.chip.errors import ChipFormatError

    pki, root = lab
    store = TrustStore.from_paths([root / "trust"], crls=[root / "crl"])
    files = dict(issue_card(pki, make_citizen(10), photo).files)
    files["EF.SOD"] += b"\xff" * 64
    with pytest.raises(ChipFormatError, match="64 bytes after its TLV"):
        verify_chip(dump_from_files(files), store)


def test_chip_verify_names_a_padded_data_group(lab: tuple[Pki, Path], photo: Path, tmp_path: Path) -> None:
    from bhytgate_clients.cli import main

    pki, root = lab
    card_dir = issue_card(pki, make_citizen(10), photo).write(tmp_path / "card")
    with open(card_dir / "DG1", "ab") as f:
        f.write(b"\x00" * 8)
    args = ["chip", "verify", str(card_dir), "--csca", str(root / "trust"), "--crl", str(root / "crl")]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert json.loads(result.output)["passive"]["trailing_bytes"] == {"1": 8}
    assert "DG1: mismatch (8 bytes" in CliRunner().invoke(main, args).output

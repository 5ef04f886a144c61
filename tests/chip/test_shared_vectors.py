"""Every item of ../shared/emrtd/README.md verifies to what its table says."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bhytgate.chip import TrustStore, dump_from_files, verify_chip
from bhytgate.chip.active import verify_active_authentication
from bhytgate.chip.crypto.x509 import load_certificate, load_crl
from bhytgate.chip.errors import TrustStoreError
from bhytgate.chip.lds.dg2 import parse_dg2
from bhytgate.chip.lds.security import parse_dg15
from bhytgate.chip.trust.chain import RevocationPolicy, validate_document_signer


def utc(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=dt.UTC)


def files(root: Path, **names: str) -> dict[str, bytes]:
    return {name.replace("_", "."): (root / rel).read_bytes() for name, rel in names.items()}


@pytest.fixture(scope="module")
def port(emrtd_dir: Path) -> Path:
    return emrtd_dir / "port_server_vectors"


def test_si_sod_chain_and_dg15(port: Path) -> None:
    store = TrustStore.from_paths([port / "certs" / "csca_si_448831f1.cer"])
    dump = dump_from_files(
        {
            "EF.SOD": (port / "lds" / "ef.sod_si_454CB206.bin").read_bytes(),
            "DG15": (port / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes(),
        }
    )
    report = verify_chip(dump, store, at=utc(2020, 1, 1))
    assert report.passive.signature.valid
    assert report.passive.chain.valid, report.passive.chain
    assert report.passive.data_groups[15] == "match"
    assert report.passive.valid
    # C=si in lower case on the DS and CSCA: the country check is case-insensitive
    assert report.passive.signer is not None and report.passive.signer.country == "SI"


def test_si_active_authentication_vectors(port: Path) -> None:
    vectors = json.loads((port / "aa_sigs.json").read_text())["ef.dg15_ef.sod_si_454CB206"]
    challenge = bytes.fromhex(vectors["challenge"])
    signatures = [bytes.fromhex(s) for s in vectors["csigs"]]
    key = parse_dg15((port / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes())
    assert verify_active_authentication(key, challenge, signatures, ec_hash=None).valid
    # the full flow, through the SOD-authenticated DG15
    store = TrustStore.from_paths([port / "certs" / "csca_si_448831f1.cer"])
    dump = dump_from_files(
        {
            "EF.SOD": (port / "lds" / "ef.sod_si_454CB206.bin").read_bytes(),
            "DG15": (port / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes(),
        }
    )
    report = verify_chip(dump, store, at=utc(2020, 1, 1), challenge=challenge, aa_signatures=signatures)
    assert report.active is not None and report.active.valid


@pytest.mark.parametrize("flip", range(32))
def test_si_active_authentication_fails_for_any_other_challenge(port: Path, flip: int) -> None:
    vectors = json.loads((port / "aa_sigs.json").read_text())["ef.dg15_ef.sod_si_454CB206"]
    challenge = bytearray(bytes.fromhex(vectors["challenge"]))
    challenge[flip] ^= 0x01
    signatures = [bytes.fromhex(s) for s in vectors["csigs"]]
    key = parse_dg15((port / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes())
    result = verify_active_authentication(key, bytes(challenge), signatures, ec_hash=None)
    assert not result.valid
    assert result.reason == "aa_signature_invalid"
    assert result.detail is not None and result.detail.startswith(f"chunk {flip // 8 + 1}:")


def test_si_active_authentication_rejects_reordered_and_missing_signatures(port: Path) -> None:
    vectors = json.loads((port / "aa_sigs.json").read_text())["ef.dg15_ef.sod_si_454CB206"]
    challenge = bytes.fromhex(vectors["challenge"])
    signatures = [bytes.fromhex(s) for s in vectors["csigs"]]
    key = parse_dg15((port / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes())
    swapped = [signatures[1], signatures[0], *signatures[2:]]
    assert not verify_active_authentication(key, challenge, swapped, ec_hash=None).valid
    short = verify_active_authentication(key, challenge, signatures[:3], ec_hash=None)
    assert short.reason == "aa_response_incomplete"


def test_de_pss_sod_full_chain(port: Path) -> None:
    store = TrustStore.from_paths([port / "certs" / "csca_de_0130846f22c2.der"])
    dump = dump_from_files({"EF.SOD": (port / "lds" / "ef.sod_de_9712AB14.bin").read_bytes()})
    report = verify_chip(dump, store, at=utc(2012, 1, 1))
    assert report.passive.signature.valid
    assert report.passive.chain.valid, report.passive.chain
    assert report.passive.hash_algorithm == "sha256"
    # outside the DS validity it is reported as such, not as a bad signature
    late = verify_chip(dump, store, at=utc(2013, 1, 1))
    assert late.passive.signature.valid
    assert late.passive.chain.reason == "ds_expired"


def test_bsi_reference_dg15_unlisted_is_never_used(emrtd_dir: Path) -> None:
    root = emrtd_dir / "bsi_tr03105_reference"
    dump = dump_from_files(
        files(root, EF_SOD="EF_SOD.bin", DG1="Datagroup1.bin", DG14="Datagroup14.bin", DG15="Datagroup15.bin")
    )
    report = verify_chip(
        dump, TrustStore(), at=utc(2014, 6, 1), challenge=bytes(32), aa_signatures=[b"\0"] * 4
    )
    p = report.passive
    assert p.signature.valid
    assert p.data_groups == {1: "match", 2: "absent", 3: "absent", 4: "absent", 14: "match", 15: "unlisted"}
    assert not p.chain.valid and p.chain.reason == "csca_not_found"
    assert report.active is not None and report.active.reason == "aa_key_unauthenticated"
    # the SOD lists DGs in the order 1,2,3,14,4: matched by number, not position
    assert report.document.mrz is not None and report.document.mrz.primary_identifier == "MUSTERMANN"


def test_bsi_2008_brainpool_p224_explicit_ecdsa_sha1(emrtd_dir: Path) -> None:
    root = emrtd_dir / "bsi_test_passport_2008"
    dump = dump_from_files(
        files(root, EF_SOD="EF_SOD.bin", DG1="Datagroup1.bin", DG2="Datagroup2.bin", DG14="Datagroup14.bin")
        | {"DG3": (root / "Datagroup3.bin").read_bytes()}
    )
    report = verify_chip(dump, TrustStore(), at=utc(2008, 6, 1))
    p = report.passive
    assert p.signature.valid, p.signature
    assert p.signer is not None and p.signer.public_key.curve == "BRAINPOOLP224r1"
    assert p.signer.public_key.explicit_parameters
    assert p.hash_algorithm == "sha1"
    assert {n: p.data_groups[n] for n in (1, 2, 3, 14)} == {1: "match", 2: "match", 3: "match", 14: "match"}
    assert p.chain.reason == "csca_not_found"
    face = report.document.face
    assert face is not None and face.format == "jpeg2000" and (face.width, face.height) == (337, 449)


@pytest.mark.parametrize("country", ["DE", "FR", "PH", "US"])
def test_real_sods_signature_and_chain(emrtd_dir: Path, country: str) -> None:
    root = emrtd_dir / "real_sods"
    store = TrustStore.from_paths([root / f"{country}_CSCA.cer"])
    dump = dump_from_files({"EF.SOD": (root / f"{country}_EF_SOD.bin").read_bytes()})
    ds = load_certificate((root / f"{country}_DSC.cer").read_bytes())
    at = ds.not_before + (ds.not_after - ds.not_before) / 2
    report = verify_chip(dump, store, at=at)
    assert report.passive.signature.valid, report.passive.signature
    assert report.passive.chain.valid, report.passive.chain
    assert report.passive.signer is not None and report.passive.signer.der == ds.der
    assert report.passive.valid
    if country == "DE":
        assert report.passive.hash_algorithm == "sha384"
        assert report.passive.signer.public_key.explicit_parameters


def test_real_sod_detects_wrong_csca(emrtd_dir: Path) -> None:
    root = emrtd_dir / "real_sods"
    store = TrustStore.from_paths([root / "FR_CSCA.cer"])
    dump = dump_from_files({"EF.SOD": (root / "US_EF_SOD.bin").read_bytes()})
    report = verify_chip(dump, store, at=utc(2022, 1, 1))
    assert report.passive.signature.valid
    assert report.passive.chain.reason == "csca_not_found"


def test_master_list_signature_and_contents(emrtd_dir: Path) -> None:
    trust = emrtd_dir / "trust"
    store = TrustStore.from_paths([trust / "DE_ROOT_CA_CSCA07.cer"])
    added = store.add_master_list((trust / "DE_ML_2026-05-28-08-28-45.ml").read_bytes(), at=utc(2026, 6, 1))
    assert added > 500
    countries = {c.country for c in store.anchors + store.links if c.country}
    assert len(countries) > 100
    vn = [c for c in store.anchors + store.links if c.country == "VN"]
    assert len(vn) == 1
    # and the real SODs' DSCs chain to CSCAs from the list
    for country in ("DE", "FR", "PH", "US"):
        ds = load_certificate((emrtd_dir / "real_sods" / f"{country}_DSC.cer").read_bytes())
        at = ds.not_before + (ds.not_after - ds.not_before) / 2
        assert validate_document_signer(ds, store, at).valid, country


def test_master_list_refused_without_trusted_signer(emrtd_dir: Path) -> None:
    with pytest.raises(TrustStoreError) as err:
        TrustStore().add_master_list((emrtd_dir / "trust" / "DE_ML_2026-05-28-08-28-45.ml").read_bytes())
    assert err.value.reason == "master_list_untrusted"


def test_master_list_with_flipped_byte_is_refused(emrtd_dir: Path) -> None:
    data = bytearray((emrtd_dir / "trust" / "DE_ML_2026-05-28-08-28-45.ml").read_bytes())
    data[len(data) // 2] ^= 0x01
    store = TrustStore.from_paths([emrtd_dir / "trust" / "DE_ROOT_CA_CSCA07.cer"])
    with pytest.raises(TrustStoreError):
        store.add_master_list(bytes(data))
    assert len(store.anchors) == 1


def test_vietnam_csca_explicit_brainpool_p512_self_signature(emrtd_dir: Path) -> None:
    cert = load_certificate((emrtd_dir / "vn" / "CSCA_ePassport_Vietnam_2022.cer").read_bytes())
    assert cert.public_key.curve == "BRAINPOOLP512r1" and cert.public_key.explicit_parameters
    cert.verify_issued_by(cert.public_key)
    assert cert.country == "VN"
    assert (cert.not_before.date(), cert.not_after.date()) == (dt.date(2022, 6, 29), dt.date(2037, 10, 1))


def test_stale_crls_are_reported_per_policy(port: Path) -> None:
    """Every CRL in the vectors is past nextUpdate; the DE one uses an encoding cryptography refuses."""
    for path in sorted((port / "certs").glob("crl_*.crl")):
        crl = load_crl(path.read_bytes())
        assert crl.stale_at(utc(2026, 1, 1)), path.name
    gb = load_crl((port / "certs" / "crl_gb_fp_85824ab57b.crl").read_bytes())
    assert len(gb.revoked_serials) == 423
    de = load_crl((port / "certs" / "crl_de_fp_e421c6cf21.crl").read_bytes())
    assert de.next_update is not None


def test_crl_policy_on_de_chain(port: Path) -> None:
    """A CRL from the DE CSCA that signed the DE DS, past nextUpdate: warn or reject per policy."""
    store = TrustStore.from_paths([port / "certs" / "csca_de_0130846f22c2.der"])
    ds = load_certificate((port / "certs" / "dsc_de_0130846f2b3e.cer").read_bytes())
    at = ds.not_before + dt.timedelta(days=30)
    baseline = validate_document_signer(ds, store, at)
    assert baseline.valid and "crl_missing" in baseline.warnings
    strict = validate_document_signer(ds, store, at, RevocationPolicy(require_crl=True))
    assert strict.reason == "crl_missing"


def test_dg2_samples_decode_to_images(emrtd_dir: Path) -> None:
    from bhytgate.chip.lds.dg2 import _iso19794

    images = parse_dg2((emrtd_dir / "dg2_samples" / "ICAO_39794_5_AP_DG2_AllFields.dat").read_bytes())
    assert images[0].format == "jpeg2000" and images[0].encoding == "iso39794-5"
    record = _iso19794((emrtd_dir / "dg2_samples" / "ISO19794_Test1_Data.bin").read_bytes())
    assert record.format == "jpeg" and record.image.startswith(b"\xff\xd8")


def test_link_certificates_configured_are_anchors_else_need_one(port: Path) -> None:
    """A link CSCA the operator configures is an anchor for its key (issue 13); one kept as a
    link (anchor=False) is used only once it chains to an anchor."""
    data = (port / "certs" / "lcsca_de_9d.cer").read_bytes()
    store = TrustStore()
    link = store.add_certificate(data)
    assert not link.self_issued and store.anchors == (link,) and not store.links
    kept = TrustStore()
    kept.add_certificate(data, anchor=False)
    assert kept.links and not kept.anchors

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from asn1crypto import crl, x509
from cardlab_helpers import public_key, verify
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bhytgate_clients.cardlab import Pki, load_pki


def _verify_issued(child: x509.Certificate, issuer: x509.Certificate) -> None:
    verify(
        public_key(issuer.public_key),
        child["signature_value"].native,
        child["tbs_certificate"].dump(),
        child["signature_algorithm"],
    )


def _extensions(cert: x509.Certificate) -> dict[str, tuple[bool, object]]:
    return {
        e["extn_id"].native: (e["critical"].native, e["extn_value"].native)
        for e in cert["tbs_certificate"]["extensions"]
    }


def test_csca1_is_explicit_brainpool_like_vietnam(pki: Pki) -> None:
    cert = pki.csca["csca-1"].cert
    params = cert.public_key["algorithm"]["parameters"]
    assert params.name == "specified"
    assert params.chosen["version"].native == "ecdpVer1"
    assert params.chosen["field_id"]["field_type"].native == "prime_field"
    assert cert["signature_algorithm"]["algorithm"].native == "sha512_ecdsa"
    assert cert.self_issued
    _verify_issued(cert, cert)
    ext = _extensions(cert)
    assert ext["basic_constraints"] == (True, {"ca": True, "path_len_constraint": 0})
    assert ext["key_usage"][0] and ext["key_usage"][1] == {"key_cert_sign", "crl_sign"}
    assert ext["key_identifier"][1] == ext["authority_key_identifier"][1]["key_identifier"]
    assert cert.subject.native["country_name"] == "VN"
    assert cert.subject.native["common_name"].startswith("CSCA Test")


def test_csca1_domain_parameters_equal_the_real_vietnamese_csca(pki: Pki, emrtd_dir: Path) -> None:
    real = x509.Certificate.load((emrtd_dir / "vn" / "CSCA_ePassport_Vietnam_2022.cer").read_bytes())
    ours = pki.csca["csca-1"].cert.public_key["algorithm"]["parameters"]
    theirs = real.public_key["algorithm"]["parameters"]
    assert ours.dump() == theirs.dump()


def test_csca2_is_named_p256_and_self_signed(pki: Pki) -> None:
    cert = pki.csca["csca-2"].cert
    assert cert.public_key["algorithm"]["parameters"].chosen.native == "secp256r1"
    assert cert.self_issued
    _verify_issued(cert, cert)


def test_link_certificate_certifies_csca2_key_under_csca1(pki: Pki) -> None:
    link = pki.link
    assert link.issuer == pki.csca["csca-1"].cert.subject
    assert link.subject == pki.csca["csca-2"].cert.subject
    assert link.public_key.dump() == pki.csca["csca-2"].cert.public_key.dump()
    assert link.ca
    assert link.authority_key_identifier == pki.csca["csca-1"].cert.key_identifier
    _verify_issued(link, pki.csca["csca-1"].cert)


@pytest.mark.parametrize("variant", ["genuine", "expired", "not_yet_valid", "revoked"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_trusted_document_signers_chain_to_their_csca(pki: Pki, kind: str, variant: str) -> None:
    ds = pki.signer(kind, variant)
    csca = pki.issuer_of(kind)
    assert ds.cert.issuer == csca.cert.subject
    assert ds.cert.authority_key_identifier == csca.cert.key_identifier
    assert ds.cert.key_identifier is not None
    assert not ds.cert.ca
    ext = _extensions(ds.cert)
    assert ext["key_usage"] == (True, {"digital_signature"})
    _verify_issued(ds.cert, csca.cert)
    expected_key = rsa.RSAPrivateKey if kind == "rsa" else ec.EllipticCurvePrivateKey
    assert isinstance(ds.key, expected_key)


def test_document_signer_validity_windows(pki: Pki) -> None:
    def window(role: str) -> tuple[dt.datetime, dt.datetime]:
        validity = pki.ds[role].cert["tbs_certificate"]["validity"]
        return validity["not_before"].native, validity["not_after"].native

    now = dt.datetime.now(dt.UTC)
    start, end = window("rsa")
    assert start.year == 2025 and end.year == 2035
    assert window("rsa-expired")[1] < now
    assert window("ec-not_yet_valid")[0] > now


def test_untrusted_and_rogue_signers_do_not_chain(pki: Pki) -> None:
    untrusted = pki.signer("rsa", "untrusted")
    assert untrusted.cert.issuer == pki.untrusted_csca.cert.subject
    assert untrusted.cert.issuer not in [c.cert.subject for c in pki.csca.values()]
    _verify_issued(untrusted.cert, pki.untrusted_csca.cert)
    rogue = pki.signer("ec", "rogue")
    genuine = pki.signer("ec")
    assert rogue.cert.subject == genuine.cert.subject
    assert rogue.cert.issuer == genuine.cert.issuer
    assert rogue.cert.authority_key_identifier == genuine.cert.authority_key_identifier
    with pytest.raises(InvalidSignature):
        _verify_issued(rogue.cert, pki.csca["csca-2"].cert)


@pytest.mark.parametrize(("role", "kind"), [("csca-1", "rsa"), ("csca-2", "ec")])
def test_crls_revoke_exactly_the_revoked_ds(pki: Pki, role: str, kind: str) -> None:
    crl_list = pki.crls[role]
    csca = pki.csca[role].cert
    tbs = crl_list["tbs_cert_list"]
    assert tbs["version"].native == "v2"
    assert crl_list.issuer == csca.subject
    assert tbs["next_update"].native > tbs["this_update"].native
    assert crl_list.authority_key_identifier == csca.key_identifier
    serials = {entry["user_certificate"].native for entry in tbs["revoked_certificates"]}
    assert serials == {pki.signer(kind, "revoked").cert.serial_number}
    assert pki.signer(kind).cert.serial_number not in serials
    verify(
        public_key(csca.public_key), crl_list["signature"].native, tbs.dump(), crl_list["signature_algorithm"]
    )


def test_pki_on_disk_layout_and_round_trip(pki: Pki) -> None:
    root = pki.root
    assert root is not None
    trust = sorted(p.name for p in (root / "trust").iterdir())
    assert trust == ["csca-1.der", "csca-2.der", "link-csca-1-csca-2.der"]
    assert (root / "untrusted" / "csca-untrusted.der").is_file()
    assert (root / "crl" / "csca-1.crl").is_file()
    crl.CertificateList.load((root / "crl" / "csca-2.crl").read_bytes())
    for pattern in ("csca/*.der", "ds/*.der", "link/*.der", "untrusted/*.der", "rogue/*.der"):
        for path in root.glob(pattern):
            x509.Certificate.load(path.read_bytes()).dump(force=True)
    reloaded = load_pki(root)
    assert reloaded.signer("ec").cert.dump() == pki.signer("ec").cert.dump()
    assert reloaded.csca["csca-1"].cert.dump() == pki.csca["csca-1"].cert.dump()
    assert (root / "ds" / "ds-rsa.key.pem").stat().st_mode & 0o077 == 0


def test_load_pki_rejects_a_non_pki_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_pki(tmp_path)

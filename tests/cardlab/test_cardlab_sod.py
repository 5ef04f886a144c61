from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, pem
from cardlab_helpers import public_key, verify

from bhytgate_clients.cardlab import CardDump, Pki, sod
from bhytgate_clients.cardlab.asn1 import unwrap_application

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _signer_info(card: CardDump) -> tuple[cms.SignedData, cms.SignerInfo]:
    signed = sod.content_info(card.files["EF.SOD"])["content"]
    return signed, signed["signer_infos"][0]


def test_data_group_hashes_recompute(cards: dict[str, CardDump]) -> None:
    for label, card in cards.items():
        hash_name, hashes = sod.data_group_hashes(card.files["EF.SOD"])
        assert hash_name == card.meta["sod"]["hash"], label
        for number, raw in card.data_groups.items():
            assert hashlib.new(hash_name, raw).digest() == hashes[number], (label, number)


def test_signed_data_structure(cards: dict[str, CardDump]) -> None:
    for label, card in cards.items():
        info = sod.content_info(card.files["EF.SOD"])
        assert info["content_type"].native == "signed_data"
        signed, signer = _signer_info(card)
        assert signed["version"].native == "v3"
        assert signed["encap_content_info"]["content_type"].dotted == "2.23.136.1.1.1"
        assert [d["algorithm"].native for d in signed["digest_algorithms"]] == [card.meta["sod"]["hash"]]
        lso = sod.security_object(card.files["EF.SOD"])
        assert lso["version"].native == 0
        certs = [c.chosen for c in signed["certificates"]]
        assert len(certs) == 1
        ds = certs[0]
        assert signer["version"].native == "v1"
        sid = signer["sid"].chosen
        assert sid["issuer"] == ds.issuer and sid["serial_number"].native == ds.serial_number, label
        attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
        assert set(attrs) == {"content_type", "signing_time", "message_digest"}
        assert attrs["content_type"].dotted == "2.23.136.1.1.1"
        econtent = bytes(signed["encap_content_info"]["content"].contents)
        assert attrs["message_digest"].native == hashlib.new(card.meta["sod"]["hash"], econtent).digest()


def test_signature_over_signed_attributes_verifies(cards: dict[str, CardDump]) -> None:
    for label, card in cards.items():
        signed, signer = _signer_info(card)
        ds = signed["certificates"][0].chosen
        signed_attrs = signer["signed_attrs"].untag().dump(force=True)
        assert signed_attrs[0] == 0x31
        # the DER re-encoding must equal what is in the file (a verifier may use either)
        raw = signer["signed_attrs"].dump()
        assert raw[1:] == signed_attrs[1:] and raw[0] == 0xA0
        algorithm = signer["signature_algorithm"]
        expected = {"pkcs1": "rsassa_pkcs1v15", "pss": "rsassa_pss"}
        if ds.public_key.algorithm == "rsa":
            assert algorithm.signature_algo == expected[card.meta["sod"]["rsa_scheme"]], label
        else:
            assert algorithm.signature_algo == "ecdsa"
            assert algorithm["parameters"].native is None
        verify(public_key(ds.public_key), signer["signature"].native, signed_attrs, algorithm)


def test_pss_parameters_are_explicit(cards: dict[str, CardDump]) -> None:
    _, signer = _signer_info(cards["rsa-pss-sha512"])
    params = signer["signature_algorithm"]["parameters"]
    assert params["hash_algorithm"]["algorithm"].native == "sha512"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha512"
    assert params["salt_length"].native == 64


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def openssl() -> str:
    if not Path(OPENSSL).is_file():
        pytest.skip("openssl not installed")
    return OPENSSL


def _write_p7(card: CardDump, path: Path) -> Path:
    path.write_bytes(unwrap_application(23, card.files["EF.SOD"]))
    return path


def test_openssl_verifies_ec_ds_sod_with_full_p256_chain(
    openssl: str, cards: dict[str, CardDump], pki: Pki, tmp_path: Path
) -> None:
    """CSCA-2 (named P-256) chain: OpenSSL does the whole job, CMS signature and chain."""
    p7 = _write_p7(cards["ec-ec"], tmp_path / "sod.p7")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(
        pem.armor("CERTIFICATE", pki.csca["csca-2"].der) + pem.armor("CERTIFICATE", pki.signer("ec").der)
    )
    result = _openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(p7),
        "-CAfile",
        str(ca),
        "-purpose",
        "any",
        "-out",
        str(tmp_path / "econtent"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "econtent").read_bytes() == sod.lds_security_object(
        cards["ec-ec"].data_groups, "sha256"
    )


def test_openssl_rejects_the_revoked_ds_with_the_crl(
    openssl: str, cards: dict[str, CardDump], pki: Pki, tmp_path: Path
) -> None:
    from bhytgate_clients.cardlab import ATTACKS, AttackContext

    revoked = ATTACKS["ds_revoked"](cards["ec-ec"], AttackContext(pki))
    p7 = _write_p7(revoked, tmp_path / "sod.p7")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem.armor("CERTIFICATE", pki.csca["csca-2"].der))
    ca_with_crl = tmp_path / "ca-crl.pem"  # `openssl cms` takes CRLs from the CA file
    ca_with_crl.write_bytes(ca.read_bytes() + pem.armor("X509 CRL", pki.crls["csca-2"].dump()))
    ok = _openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(p7),
        "-CAfile",
        str(ca),
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    )
    assert ok.returncode == 0, ok.stderr
    bad = _openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(p7),
        "-CAfile",
        str(ca_with_crl),
        "-purpose",
        "any",
        "-crl_check",
        "-out",
        "/dev/null",
    )
    assert bad.returncode != 0 and "revoked" in bad.stderr


@pytest.mark.parametrize("label", ["rsa-rsa", "rsa-pss-sha512", "rsa-sha384-plain"])
def test_openssl_verifies_rsa_ds_sod_signature(
    openssl: str, cards: dict[str, CardDump], pki: Pki, tmp_path: Path, label: str
) -> None:
    """The RSA DS chains to the explicit-parameter brainpool CSCA-1, which OpenSSL 3.0 refuses in a
    chain ("Certificate public key has explicit ECC parameters"); so OpenSSL checks the CMS signature
    with -noverify, and the DS->CSCA-1 signature is checked with cryptography in test_cardlab_pki."""
    p7 = _write_p7(cards[label], tmp_path / "sod.p7")
    result = _openssl("cms", "-verify", "-inform", "DER", "-in", str(p7), "-noverify", "-out", "/dev/null")
    assert result.returncode == 0, result.stderr
    ca = tmp_path / "ca.pem"
    ca.write_bytes(
        pem.armor("CERTIFICATE", pki.csca["csca-1"].der) + pem.armor("CERTIFICATE", pki.signer("rsa").der)
    )
    chain = _openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(p7),
        "-CAfile",
        str(ca),
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    )
    if chain.returncode != 0:
        assert "explicit" in chain.stderr, chain.stderr


def test_openssl_detects_an_edited_data_group_only_via_hashes(
    openssl: str, cards: dict[str, CardDump], pki: Pki, tmp_path: Path
) -> None:
    """CMS stays valid when a DG changes after signing: the DG hash comparison is the verifier's job."""
    from bhytgate_clients.cardlab import ATTACKS, AttackContext

    edited = ATTACKS["dg13_edited"](cards["ec-ec"], AttackContext(pki))
    p7 = _write_p7(edited, tmp_path / "sod.p7")
    result = _openssl("cms", "-verify", "-inform", "DER", "-in", str(p7), "-noverify", "-out", "/dev/null")
    assert result.returncode == 0
    _, hashes = sod.data_group_hashes(edited.files["EF.SOD"])
    assert hashlib.sha256(edited.files["DG13"]).digest() != hashes[13]

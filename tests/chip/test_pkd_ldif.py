"""ICAO PKD LDIF import: master lists, DSCs and CRLs from the PKD's file layout (folded base64)."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest

from bhytgate.chip import TrustStore, load_dump, verify_chip
from bhytgate.chip.errors import TrustStoreError
from bhytgate.chip.trust.ldif import read_pkd_ldif, write_pkd_ldif
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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Path, bytes]:
    root = tmp_path_factory.mktemp("pki")
    pki = write_pki(create_pki(), root)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signer = v.master_list_signer(pki, now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    ml = v.master_list(signer, [pki.csca["csca-2"].cert], now)
    other = v.master_list_signer(create_pki(), now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    foreign = v.master_list(other, [pki.csca["csca-2"].cert], now)  # another country's: no anchor here
    ldif = write_pkd_ldif(
        master_lists=(ml, foreign),
        document_signers=(pki.signer("ec").der, pki.signer("rsa").der),
        crls=tuple((root / "crl" / f"{r}.crl").read_bytes() for r in ("csca-1", "csca-2")),
    )
    return pki, root, ldif


def test_read_pkd_ldif(lab: tuple[Pki, Path, bytes]) -> None:
    _, _, ldif = lab
    assert any(line.startswith(b" ") for line in ldif.splitlines())  # folded lines
    objects = read_pkd_ldif(b"# a comment\n" + ldif)
    assert (len(objects.master_lists), len(objects.document_signers), len(objects.crls)) == (2, 2, 2)
    assert objects.entries == 6


@pytest.mark.parametrize(
    "text",
    [
        b"dn: cn=x\npkdMasterListContent:: @@@@\n",
        b"dn: cn=x\nuserCertificate;binary: not-base64-marked\n",
        b"dn: cn=x\nno colon here\n",
        b"\xff\xfe",
    ],
)
def test_malformed_ldif_is_a_typed_error(text: bytes) -> None:
    with pytest.raises(TrustStoreError) as err:
        read_pkd_ldif(text)
    assert err.value.reason == "ldif_malformed"


def test_trust_store_from_ldif_verifies_a_sod_without_its_certificate(
    lab: tuple[Pki, Path, bytes], faces_dir: Path, tmp_path: Path
) -> None:
    pki, root, ldif = lab
    store = TrustStore.from_paths([root / "csca" / "csca-1.der"])
    counts = store.add_pkd_ldif(ldif)
    assert counts == {
        "master_lists": 1,
        "master_lists_refused": 1,
        "cscas": 1,
        "crls": 2,
        "crls_refused": 0,
        "document_signers": 2,
    }
    photo = faces_dir / "face_recognition" / "examples" / "obama.jpg"
    card = v.without_ds_certificate(issue_card(pki, make_citizen(2), photo, IssueOptions(ds="ec")), pki)
    card_dir = card.write(tmp_path / "card")
    challenge = secrets.token_bytes(32)
    signatures = SimulatedChip.from_dump(card_dir).answer_challenge(challenge)
    report = verify_chip(load_dump(card_dir), store, challenge=challenge, aa_signatures=signatures)
    assert report.valid, report.to_json()["passive"]
    assert "crl_missing" not in report.passive.warnings  # the LDIF's CRLs are in use
    # without the PKD's DSCs the same SOD has no signer
    bare = TrustStore.from_paths([root / "trust"])
    assert verify_chip(load_dump(card_dir), bare).passive.signature.reason == "signer_certificate_not_found"

"""Chip crashers found by the fuzzing campaign (benchmarks/fuzz, report in
benchmarks/results/2026-12-01-fuzz.md): inputs that make the chip code raise something other than
`ChipError`.

One root cause behind all of them: asn1crypto parses lazily, and several places touch a field for
the first time outside any try block, or inside one that catches fewer exceptions than
`cms.PARSE_ERRORS`:

- `x509.Certificate.public_key` (SubjectPublicKeyInfo), `Certificate.verify_issued_by` and
  `Crl.verify_issued_by` (signatureAlgorithm, TBS re-encoding, signatureValue): no try at all;
- `cms.find_signer_certificate` (`signer_info["sid"]`), `cms.signed_attributes_problem`
  (`signer_info["signed_attrs"]`, `len(attrs)`), `cms.verify_signer` (`si["signature_algorithm"]`):
  the first access is outside the try;
- `x509._country` / `_load_certificate_der` (no IndexError), `keys._rsa_key` and `load_public_key`
  (no IndexError: an empty BIT STRING), `signatures._pss_parameters` (no AttributeError/IndexError).

Reachable from a terminal: the EF.SOD cases below are a genuine card-lab EF.SOD with one byte
changed (a tag), no key needed; `verify_chip` raises ValueError, which the chip credential verifier
does not catch (it catches ChipError), so by the code path the check ends as INTERNAL after the
challenge was spent. A CRL that `load_crl` accepts but whose signatureAlgorithm is malformed
(loaded through LoadTrustAnchors or the trust folder) makes every later check of that CSCA's cards
raise the same way.

Fixed in this change: every case below now ends in a report or a ChipError.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from bhytgate.chip import ChipError, TrustStore, dump_from_files, verify_chip
from bhytgate.chip.crypto.x509 import load_certificate, load_crl
from bhytgate.chip.lds.security import parse_dg15

DATA = Path(__file__).parent / "data"
CHIP_AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
ML_AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
UNTYPED = (ValueError, IndexError, AttributeError, TypeError)  # UnicodeError is a ValueError


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _lab_store() -> TrustStore:
    store = TrustStore()
    store.add_certificate(_read("cardlab-csca-1.der"))  # the card-lab CSCA that issued the SODs' DS
    return store


# --- through verify_chip, as the gateway calls it -------------------------------------------------

HOSTILE_SODS = [
    "chip-sod-ds-spki-context-tag.bin",  # DS certificate's SubjectPublicKeyInfo tagged [0]: x509.py:80
    "chip-sod-ds-sigalg-primitive.bin",  # DS certificate's signatureAlgorithm primitive: x509.py:94
    "chip-sod-ds-sigvalue-application-tag.bin",  # DS certificate's signatureValue [APPLICATION 3]: x509.py:96
    "chip-sod-signerinfo-sid-set-tag.bin",  # SignerInfo sid tagged SET: cms.py:89
    "chip-sod-signerinfo-signedattrs-primitive.bin",  # signedAttrs [0] primitive: cms.py:111
    "chip-sod-signerinfo-sigalg-primitive.bin",  # SignerInfo signatureAlgorithm primitive: cms.py:148
]


def test_the_genuine_sod_behind_the_hostile_ones_verifies() -> None:
    report = verify_chip(
        dump_from_files({"EF.SOD": _read("chip-sod-genuine-cardlab.bin")}), _lab_store(), at=CHIP_AT
    )
    assert report.passive.signature.valid and report.passive.chain.valid


@pytest.mark.parametrize("name", HOSTILE_SODS)
def test_hostile_ef_sod_gives_a_report_or_a_chip_error(name: str) -> None:
    try:
        report = verify_chip(dump_from_files({"EF.SOD": _read(name)}), _lab_store(), at=CHIP_AT)
    except ChipError:
        return
    assert not report.valid


def test_a_malformed_crl_is_refused_when_loaded_and_later_checks_still_work() -> None:
    store = _lab_store()
    with pytest.raises(ChipError):  # was accepted, then broke every check of the CSCA's cards
        store.add_crl(_read("crl-cardlab-csca-1-sigalg-primitive.crl"))
    report = verify_chip(
        dump_from_files({"EF.SOD": _read("chip-sod-genuine-cardlab.bin")}), store, at=CHIP_AT
    )
    assert report.passive.signature.valid


# --- the fuzzer's own inputs, through the calls each target made ---------------------------------


def _certificate(data: bytes) -> None:
    cert = load_certificate(data)
    cert.verify_issued_by(cert.public_key)


def _crl(data: bytes) -> None:
    crl = load_crl(data)
    crl.verify_issued_by(load_certificate(_read("cardlab-csca-1.der")).public_key)


def _master_list(data: bytes) -> None:
    store = TrustStore()
    store.add_certificate(_read("ml-csca.der"))  # the campaign's master-list CSCA
    store.add_master_list(data, at=ML_AT)


CALLS: dict[str, Callable[[bytes], object]] = {
    "certificate": _certificate,
    "crl": _crl,
    "master_list": _master_list,
    "dg15": parse_dg15,
}
FUZZER_INPUTS = sorted(p.name for p in DATA.glob("*.der") if p.name.split("-")[0] in CALLS)


@pytest.mark.parametrize("name", FUZZER_INPUTS)
def test_fuzzer_input_raises_only_chip_error(name: str) -> None:
    with contextlib.suppress(ChipError):
        CALLS[name.split("-")[0]](_read(name))

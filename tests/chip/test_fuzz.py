"""Hostile bytes in every parser: a typed `ChipError`, quickly; never a hang or another exception."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bhytgate.chip import ChipError, TrustStore, dump_from_files, verify_chip
from bhytgate.chip.crypto.x509 import load_certificate, load_crl
from bhytgate.chip.lds.dg2 import parse_dg2
from bhytgate.chip.lds.dg13 import parse_dg13
from bhytgate.chip.lds.mrz import parse_dg1
from bhytgate.chip.lds.security import parse_dg14, parse_dg15
from bhytgate.chip.lds.sod import parse_sod

PARSERS: dict[str, Callable[[bytes], Any]] = {
    "EF.SOD": parse_sod,
    "DG1": parse_dg1,
    "DG2": parse_dg2,
    "DG13": parse_dg13,
    "DG14": parse_dg14,
    "DG15": parse_dg15,
    "certificate": load_certificate,
    "crl": load_crl,
}
FIRST_BYTE = {"EF.SOD": 0x77, "DG1": 0x61, "DG2": 0x75, "DG13": 0x6D, "DG14": 0x6E, "DG15": 0x6F}


def _sample(emrtd: Path, name: str) -> bytes:
    paths = {
        "EF.SOD": "bsi_test_passport_2008/EF_SOD.bin",
        "DG1": "bsi_test_passport_2008/Datagroup1.bin",
        "DG2": "bsi_test_passport_2008/Datagroup2.bin",
        "DG14": "bsi_test_passport_2008/Datagroup14.bin",
        "DG15": "bsi_test_passport_2008/Datagroup15.bin",
        "certificate": "vn/CSCA_ePassport_Vietnam_2022.cer",
        "crl": "port_server_vectors/certs/crl_de_fp_e421c6cf21.crl",
    }
    if name == "DG13":
        return dg13_sample()
    return (emrtd / paths[name]).read_bytes()


def dg13_sample() -> bytes:
    """A DG13 in the CCCD layout, built with asn1crypto."""
    from asn1crypto import core

    def field(n: int, *values: core.Asn1Value) -> core.Sequence:
        return core.Sequence(contents=core.Integer(n).dump() + b"".join(v.dump() for v in values))

    fields = [
        field(1, core.UTF8String("001099012345")),
        field(2, core.UTF8String("Nguyễn Văn An")),
        field(3, core.UTF8String("01/02/1990")),
        field(
            13,
            core.Sequence(contents=core.UTF8String("Nguyễn Văn Bình").dump()),
            core.Sequence(contents=core.UTF8String("Trần Thị Cúc").dump()),
        ),
        field(16, core.UTF8String("0123456789abcdef")),
    ]
    body = core.Integer(1).dump() + core.ObjectIdentifier("1.0.10646.1.0.8").dump()
    body += core.SetOf(contents=b"".join(f.dump() for f in fields)).dump()
    inner = core.Sequence(contents=body).dump()
    outer = core.Asn1Value(class_="application", tag=13, contents=inner)
    outer.method = 1  # constructed: DG13 is [APPLICATION 13]
    return bytes(outer.dump())


def _expect_typed(parser: Callable[[bytes], Any], data: bytes) -> None:
    start = time.perf_counter()
    try:
        parser(data)
    except ChipError as exc:
        assert exc.reason and str(exc)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_random_bytes(name: str, data: bytes) -> None:
    _expect_typed(PARSERS[name], data)


@pytest.mark.parametrize("name", sorted(FIRST_BYTE))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_behind_the_right_tag(name: str, data: bytes) -> None:
    # a plausible outer tag and length, then junk: exercises the inner parsers, not the tag check
    body = data
    header = bytes([FIRST_BYTE[name]]) + (
        bytes([len(body)]) if len(body) < 128 else b"\x82" + len(body).to_bytes(2, "big")
    )
    _expect_typed(PARSERS[name], header + body)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_truncation_of_a_real_file(emrtd_dir: Path, name: str) -> None:
    sample = _sample(emrtd_dir, name)
    step = max(1, len(sample) // 300)
    for cut in range(0, len(sample), step):
        _expect_typed(PARSERS[name], sample[:cut])


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bit_flips_in_a_real_file(emrtd_dir: Path, name: str, data: st.DataObject) -> None:
    sample = bytearray(_sample(emrtd_dir, name))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(sample) - 1))
        sample[index] ^= 1 << data.draw(st.integers(0, 7))
    _expect_typed(PARSERS[name], bytes(sample))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x77",
        b"\x77\x84\xff\xff\xff\xff",  # absurd length
        b"\x77\x89" + b"\xff" * 9,  # length of length beyond reason
        b"\x77\x80" + b"\x30\x80" * 5000,  # deep indefinite nesting, never closed
        b"\x77\x80" + b"\x30\x80" * 200 + b"\x00\x00" * 201,  # deep but closed
        b"\x61" + b"\x05" + b"\x5f\x1f\x02AB",  # MRZ too short
        b"\x30\x03\x02\x01\x01",  # a SEQUENCE where EF.SOD should be
    ],
)
def test_adversarial_shapes(data: bytes) -> None:
    for parser in PARSERS.values():
        _expect_typed(parser, data)


def test_deep_nesting_in_dg13_is_bounded() -> None:
    inner = b"\x0c\x01A"
    for _ in range(60):
        inner = (
            b"\x30"
            + (bytes([len(inner)]) if len(inner) < 128 else b"\x82" + len(inner).to_bytes(2, "big"))
            + inner
        )
    body = b"\x30" + b"\x82" + len(inner).to_bytes(2, "big") + inner
    data = b"\x6d\x82" + len(body).to_bytes(2, "big") + body
    _expect_typed(parse_dg13, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.dictionaries(st.sampled_from(["DG1", "DG2", "DG13", "DG14", "DG15"]), st.binary(max_size=200)))
def test_verify_chip_with_junk_data_groups_never_raises(emrtd_dir: Path, junk: dict[str, bytes]) -> None:
    sod = (emrtd_dir / "bsi_test_passport_2008" / "EF_SOD.bin").read_bytes()
    dump = dump_from_files({"EF.SOD": sod, **junk})
    report = verify_chip(dump, TrustStore(), challenge=bytes(32), aa_signatures=[b"x"] * 4)
    assert not report.valid
    for name in junk:
        number = int(name[2:])
        assert report.passive.data_groups[number] in ("mismatch", "unlisted")

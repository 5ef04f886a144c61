from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhytgate.chip import ChipFormatError, load_dump
from bhytgate.chip.dump import canonical_name
from bhytgate.chip.lds.mrz import ExpiryPolicy, check_digit, parse_mrz
from bhytgate_clients.cli import main


def td1(doc: str, optional: str, dob: str, sex: str, expiry: str, name: str) -> str:
    l1 = f"IDVNM{doc}{check_digit(doc)}{optional}".ljust(30, "<")
    l2 = f"{dob}{check_digit(dob)}{sex}{expiry}{check_digit(expiry)}VNM".ljust(29, "<")
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    return l1 + l2 + check_digit(composite) + name.ljust(30, "<")


def test_check_digit_icao_example() -> None:
    # ICAO 9303 part 3 worked example: document number L898902C3 -> 6; dates 740812 -> 2, 120415 -> 9
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"


def test_cccd_td1_with_id_number_in_optional_data() -> None:
    mrz = parse_mrz(td1("099012345", "001099012345", "900201", "M", "300201", "NGUYEN<<VAN<AN"))
    assert mrz.format == "TD1" and mrz.issuing_state == "VNM"
    assert mrz.document_number == "099012345" and mrz.optional_data == "001099012345"
    assert mrz.date_of_birth == dt.date(1990, 2, 1) and mrz.date_of_expiry == dt.date(2030, 2, 1)
    assert (mrz.primary_identifier, mrz.secondary_identifier) == ("NGUYEN", "VAN AN")


def test_no_expiry_sentinel_is_explicit_and_configurable() -> None:
    text = td1("099012345", "001099012345", "600201", "F", "991231", "TRAN<<THI<B")
    mrz = parse_mrz(text)
    assert mrz.no_expiry and mrz.date_of_expiry is None
    strict = parse_mrz(text, policy=ExpiryPolicy(frozenset()))
    assert not strict.no_expiry and strict.date_of_expiry == dt.date(2099, 12, 31)


@pytest.mark.parametrize("position", [14, 36, 44, 59])
def test_every_check_digit_is_verified(position: int) -> None:
    text = list(td1("099012345", "001099012345", "900201", "M", "300201", "NGUYEN<<VAN<AN"))
    text[position] = "0" if text[position] != "0" else "1"
    with pytest.raises(ChipFormatError) as err:
        parse_mrz("".join(text))
    assert err.value.reason == "mrz_check_digit"


def test_td3_icao_specimen() -> None:
    mrz = parse_mrz(
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
    )
    assert mrz.format == "TD3" and mrz.document_number == "L898902C3" and mrz.sex == "F"
    assert mrz.full_name == "ERIKSSON ANNA MARIA"


def test_malformed_mrz_lengths_and_characters() -> None:
    for text in ["", "ABC", "x" * 90, "<" * 91]:
        with pytest.raises(ChipFormatError):
            parse_mrz(text)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EF.SOD", "EF.SOD"),
        ("ef_sod.bin", "EF.SOD"),
        ("SOD", "EF.SOD"),
        ("dg1", "DG1"),
        ("EF.DG15.der", "DG15"),
        ("EF_DG2.BIN", "DG2"),
        ("Datagroup14.bin", "DG14"),
        ("EF.COM", "EF.COM"),
        ("card.json", None),
        ("chip_aa_key.pem", None),
        ("DG17", None),
        ("DG0", None),
    ],
)
def test_dump_names(name: str, expected: str | None) -> None:
    assert canonical_name(name) == expected


def test_dump_directory_and_cli_exit_codes(tmp_path: Path, emrtd_dir: Path) -> None:
    port = emrtd_dir / "port_server_vectors"
    dump = tmp_path / "si"
    dump.mkdir()
    (dump / "ef_sod.bin").write_bytes((port / "lds" / "ef.sod_si_454CB206.bin").read_bytes())
    (dump / "EF.DG15").write_bytes((port / "lds" / "ef.dg15_ef.sod_si_454CB206.bin").read_bytes())
    (dump / "notes.txt").write_text("ignored")
    assert sorted(load_dump(dump).files) == ["DG15", "EF.SOD"]
    vectors = json.loads((port / "aa_sigs.json").read_text())["ef.dg15_ef.sod_si_454CB206"]
    response = tmp_path / "aa.json"
    response.write_text(json.dumps({"signatures": vectors["csigs"]}))
    runner = CliRunner()
    csca = str(port / "certs" / "csca_si_448831f1.cer")
    base = ["chip", "verify", str(dump), "--csca", csca, "--at", "2020-01-01", "--json"]
    ok = runner.invoke(main, [*base, "--challenge", vectors["challenge"], "--aa-response", str(response)])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert report["passive"]["valid"] is True and report["active"]["valid"] is True
    assert report["passive"]["data_groups"]["15"] == "match"
    other = "00" * 32
    bad = runner.invoke(main, [*base, "--challenge", other, "--aa-response", str(response)])
    assert bad.exit_code == 1 and json.loads(bad.output)["active"]["reason"] == "aa_signature_invalid"
    untrusted = runner.invoke(main, ["chip", "verify", str(dump), "--at", "2020-01-01", "--json"])
    assert untrusted.exit_code == 1
    assert json.loads(untrusted.output)["passive"]["chain"]["reason"] == "csca_not_found"
    (dump / "ef_sod.bin").write_bytes(b"\x77\x05\x30\x03\x02\x01")
    broken = runner.invoke(main, ["chip", "verify", str(dump)])
    assert broken.exit_code == 2 and "EF.SOD" in broken.output
    assert runner.invoke(main, ["chip", "verify", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(main, [*base, "--challenge", "abcd", "--aa-response", str(response)]).exit_code == 2

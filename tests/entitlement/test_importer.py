from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate.entitlement.benefit import BenefitPolicy
from bhytgate.entitlement.importer import ImportFormat, RowError, parse_entitlements

HEADER = "card_number,full_name,date_of_birth,sex,address,registered_facility,valid_from,valid_to,revoked"
GOOD = [
    'DN4797912345678,Nguyễn Văn An,15/03/1990,Nam,"12 Lê Lợi, Q1",79014,2025-01-01,31/12/2025,',
    "HT3010112345678,Trần Thị Bình,1950,Nữ,Hà Nội,01 - 097,01/01/2025,,false",
]


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def test_csv_good_rows_derive_parts_from_the_card() -> None:
    records, errors = parse_entitlements(b"\xef\xbb\xbf" + csv_bytes(*GOOD), "csv")
    assert errors == []
    first, second = records
    assert (first.beneficiary_group, first.benefit_code, first.province_code) == ("DN", 4, "79")
    assert first.social_insurance_number == "7912345678" and first.valid_to == dt.date(2025, 12, 31)
    assert first.address == "12 Lê Lợi, Q1" and first.cccd_number is None and not first.revoked
    assert second.date_of_birth == "1950" and second.registered_facility == "01097"
    assert second.valid_to is None and second.sex == "Nữ"


def test_csv_reports_every_bad_row_and_field() -> None:
    rows = [
        GOOD[0],
        "DN47979123456,X,15/03/1990,Nam,,79014,2025-01-01,,",  # bad card
        "DN4797912345679,,1990-02-30,Male,,7901,2025-13-01,,maybe",  # five bad fields
        GOOD[0],  # duplicate of row 2
        "too,few",
    ]
    records, errors = parse_entitlements(csv_bytes(*rows), ImportFormat.CSV)
    assert len(records) == 1
    by_row: dict[int, set[str]] = {}
    for e in errors:
        by_row.setdefault(e.row, set()).add(e.field)
    assert by_row == {
        3: {"card_number"},
        4: {"full_name", "date_of_birth", "sex", "registered_facility", "valid_from", "revoked"},
        5: {"card_number"},
        6: {""},
    }
    assert any("duplicate of row 2" in e.message for e in errors)


def test_csv_consistency_with_the_card_number() -> None:
    header = HEADER + ",benefit_code,beneficiary_group,province_code,social_insurance_number"
    row = GOOD[0] + ",3,dn,80,7912345670"
    _, errors = parse_entitlements(csv_bytes(row, header=header), "csv")
    assert {e.field for e in errors} == {"benefit_code", "province_code", "social_insurance_number"}


def test_policy_check_is_opt_in() -> None:
    row = "DN3797912345678,An,1990,Nam,,79014,2025-01-01,,"
    assert parse_entitlements(csv_bytes(row), "csv").errors == []
    _, errors = parse_entitlements(csv_bytes(row), "csv", policy=BenefitPolicy.default())
    assert [e.field for e in errors] == ["benefit_code"]


def test_csv_header_problems() -> None:
    _, errors = parse_entitlements(b"card_number,nickname\nDN4797912345678,x\n", "csv")
    assert RowError(1, "nickname", "unknown column") in errors
    assert {e.field for e in errors if e.message == "required column missing"} == {
        "full_name",
        "date_of_birth",
        "sex",
        "registered_facility",
        "valid_from",
    }
    assert parse_entitlements(b"", "csv").errors[0].row == 0


def test_renewal_fields_are_checked_together() -> None:
    header = HEADER + ",new_card_number,new_valid_from,new_valid_to,new_registered_facility"
    ok = GOOD[0] + ",DN4797912345679,2026-01-01,2026-12-31,79014"
    assert parse_entitlements(csv_bytes(ok, header=header), "csv").errors == []
    orphan = GOOD[0] + ",,2026-01-01,,"
    _, errors = parse_entitlements(csv_bytes(orphan, header=header), "csv")
    assert [e.field for e in errors] == ["new_valid_from"]
    backwards = GOOD[0] + ",DN4797912345679,2026-01-01,2025-12-31,"
    _, errors = parse_entitlements(csv_bytes(backwards, header=header), "csv")
    assert [e.field for e in errors] == ["new_valid_to"]


def test_not_utf8() -> None:
    records, errors = parse_entitlements(csv_bytes(*GOOD) + b"\xff", "csv")
    assert records == [] and errors[0].row == 0 and "UTF-8" in errors[0].message


def _jsonl(*objs: object) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs).encode()


GOOD_OBJ = {
    "card_number": "DN4797912345678",
    "full_name": "Nguyễn Văn An",
    "date_of_birth": "1990-03-15",
    "sex": "Nam",
    "registered_facility": "79014",
    "valid_from": "2025-01-01",
    "valid_to": None,
    "benefit_code": 4,
    "revoked": False,
}


def test_jsonl_good_and_bad_lines() -> None:
    content = _jsonl(
        GOOD_OBJ,
        "",
        "{not json",
        [1, 2],
        {**GOOD_OBJ, "card_number": "HT3010112345678", "benefit_code": 4.0, "colour": "red"},
        {**GOOD_OBJ, "card_number": "HT3010112345679", "benefit_code": "3", "area_code": "k2"},
        "[" * 100_000,
    )
    records, errors = parse_entitlements(content, ImportFormat.JSONL)
    assert [r.card_number for r in records] == ["DN4797912345678", "HT3010112345679"]
    assert records[0].date_of_birth == "15/03/1990" and records[1].area_code == "K2"
    assert {(e.row, e.field) for e in errors} == {
        (3, ""),
        (4, ""),
        (5, "benefit_code"),
        (5, "colour"),
        (7, ""),
    }


def test_unknown_format() -> None:
    with pytest.raises(ValueError):
        parse_entitlements(b"", "xml")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(list(ImportFormat)))
def test_any_bytes_give_records_or_row_errors(content: bytes, fmt: ImportFormat) -> None:
    records, errors = parse_entitlements(content, fmt)
    assert all(isinstance(e, RowError) and e.row >= 0 for e in errors)
    assert isinstance(records, list)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=9, max_size=9))
def test_any_csv_cells(cells: list[str]) -> None:
    line = ",".join('"' + c.replace('"', '""') + '"' for c in cells)
    records, errors = parse_entitlements(csv_bytes(line), "csv")
    blank = all(not c.strip() for c in cells)  # a blank line is skipped, not an error
    assert len(records) + len({e.row for e in errors}) == (0 if blank else 1)


def test_a_huge_integer_is_a_row_error_not_a_crash() -> None:
    """A 5,000-digit JSON integer once escaped as ValueError (int()'s 4,300-digit limit): INTERNAL."""
    good = {
        "card_number": "DN4797912345678",
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "15/03/1990",
        "sex": "Nam",
        "registered_facility": "79014",
        "valid_from": "2025-01-01",
    }
    lines = [
        json.dumps({**good, "benefit_code": 4}),  # a small integer is still fine
        json.dumps(good)[:-1] + ', "benefit_code": ' + "9" * 5000 + "}",
        json.dumps(good)[:-1] + ', "revoked": -' + "1" * 21 + "}",
        '{"card_number": ' + "7" * 100_000 + "}",
    ]
    records, errors = parse_entitlements("\n".join(lines).encode(), "jsonl")
    assert len(records) == 1
    by_row = {(e.row, e.field) for e in errors}
    assert {(2, "benefit_code"), (3, "revoked"), (4, "card_number")} <= by_row
    assert all("digits" in e.message for e in errors if e.field in ("benefit_code", "revoked"))
    assert all(len(e.message) < 200 for e in errors)


def test_error_reports_do_not_echo_huge_field_names() -> None:
    name = "x" * 100_000
    _, errors = parse_entitlements(csv_bytes(GOOD[0] + ",1", header=HEADER + "," + name), "csv")
    assert (1, name[:64] + "…") in {(e.row, e.field) for e in errors}
    assert all(len(e.field) <= 65 for e in errors)
    _, errors = parse_entitlements(json.dumps({name: "1"}).encode(), "jsonl")
    assert errors and all(len(e.field) <= 65 for e in errors)


def test_a_province_limits_which_cards_a_file_may_hold() -> None:
    records, errors = parse_entitlements(csv_bytes(*GOOD), "csv", province="01")
    assert [r.card_number for r in records] == ["HT3010112345678"]
    assert errors == [RowError(2, "province_code", "not 01: this office imports its own province's cards")]
    assert parse_entitlements(csv_bytes(*GOOD), "csv", province=None).errors == []

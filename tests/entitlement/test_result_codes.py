from __future__ import annotations

import pytest

from bhytgate.entitlement.result_codes import MaKetQua, ReducedReason, is_success, parse_reduced_reason

README_CODES = [
    "000",
    "001",
    "002",
    "003",
    "004",
    "010",
    "050",
    "051",
    "052",
    "053",
    "060",
    "061",
    "070",
    "080",
    "090",
    "100",
    "101",
    "110",
    "120",
    "121",
    "122",
    "123",
    "124",
    "130",
    "205",
    "401",
    "500",
]


def test_every_readme_code_is_defined_and_nothing_else() -> None:
    assert sorted(c.value for c in MaKetQua) == sorted(README_CODES)


@pytest.mark.parametrize("code", list(MaKetQua))
def test_descriptions_in_both_languages(code: MaKetQua) -> None:
    assert code.vi and code.en


def test_success_is_exactly_000_to_004() -> None:
    assert {c.value for c in MaKetQua if c.is_success} == {"000", "001", "002", "003", "004"}
    assert is_success("004") and not is_success("010")
    assert not is_success("999") and not is_success("") and not is_success("00")


def test_reduced_reasons_map_to_120_124() -> None:
    assert {r.code.value for r in ReducedReason} == {"120", "121", "122", "123", "124"}
    assert parse_reduced_reason("STOPPED") is ReducedReason.STOPPED
    assert parse_reduced_reason("122") is ReducedReason.MOVED_WITHIN_PROVINCE
    assert parse_reduced_reason("moved") is ReducedReason.REDUCED
    with pytest.raises(ValueError, match="unknown reduced reason"):
        parse_reduced_reason("gone fishing")

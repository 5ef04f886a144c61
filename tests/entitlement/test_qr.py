from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate.entitlement.cardnumber import CARD_NUMBER_RE, parse_card_number
from bhytgate.entitlement.qr import (
    BhytQr,
    CccdQr,
    QrFormatError,
    format_bhyt_qr,
    format_cccd_qr,
    parse_bhyt_qr,
    parse_cccd_qr,
)

CCCD = "079099001234|123456789|Nguyễn Văn An|15031990|Nam|12 Lê Lợi, Quận 1, TP Hồ Chí Minh|01072021"


def _hex(s: str) -> str:
    return s.encode("utf-8").hex()


BHYT14 = "|".join(
    [
        "DN4797912345678",
        _hex("Nguyễn Văn An"),
        "15/03/1990",
        "1",
        _hex("12 Lê Lợi, Quận 1"),
        "79 - 014",
        "01/01/2025",
        "31/12/2025",
        "01/01/2025",
        "79791234567800",
        "-",
        "K1",
        "01/01/2020",
        "7b6a5f1c2d3e4f50-1",
    ]
)


def test_cccd_qr() -> None:
    rec = parse_cccd_qr(CCCD + "\r\n")
    assert rec.cccd_number == "079099001234" and rec.cmnd_number == "123456789"
    assert rec.date_of_birth == dt.date(1990, 3, 15) and rec.issue_date == dt.date(2021, 7, 1)
    assert rec.sex == "Nam" and rec.full_name == "Nguyễn Văn An"
    assert format_cccd_qr(rec) == CCCD


def test_cccd_qr_empty_cmnd_and_decomposed_sex() -> None:
    decomposed = "Nu\u031b\u0303"  # "Nữ" in NFD, as some scanners deliver it
    rec = parse_cccd_qr(CCCD.replace("|123456789|", "||").replace("|Nam|", f"|{decomposed}|"))
    assert rec.cmnd_number is None and rec.sex == "Nữ"


@pytest.mark.parametrize(
    ("index", "value", "field"),
    [
        (0, "07909900123", "cccd_number"),
        (1, "12345", "cmnd_number"),
        (2, " ", "full_name"),
        (3, "31021990", "date_of_birth"),
        (4, "M", "sex"),
        (6, "2021-07-01", "issue_date"),
    ],
)
def test_cccd_qr_errors_name_the_field(index: int, value: str, field: str) -> None:
    parts = CCCD.split("|")
    parts[index] = value
    with pytest.raises(QrFormatError) as info:
        parse_cccd_qr("|".join(parts))
    assert info.value.field == field


def test_cccd_qr_structure() -> None:
    with pytest.raises(QrFormatError) as info:
        parse_cccd_qr(CCCD.rsplit("|", 1)[0])
    assert info.value.field == "structure"
    with pytest.raises(QrFormatError) as info:
        parse_cccd_qr(CCCD + "|extra")  # an eighth field is the 2024 form's expiry date
    assert info.value.field == "expiry_date"
    with pytest.raises(QrFormatError):
        parse_cccd_qr("x" * 5000)


@pytest.mark.parametrize("ending", ["|$", "$", "|$\n"])
def test_bhyt_qr_14_fields(ending: str) -> None:
    rec = parse_bhyt_qr(BHYT14 + ending)
    assert rec.card_number.value == "DN4797912345678" and rec.full_name == "Nguyễn Văn An"
    assert rec.sex == "Nam" and rec.registered_facility == "79014"
    assert rec.valid_to == dt.date(2025, 12, 31) and rec.parent_name is None and rec.area_code == "K1"
    assert rec.five_year_date == dt.date(2020, 1, 1) and rec.benefit_code is None
    assert parse_bhyt_qr(format_bhyt_qr(rec)) == rec


def test_bhyt_qr_16_fields_open_ended() -> None:
    parts = BHYT14.split("|")
    parts[7] = "-"
    parts[2] = "1990"
    text = "|".join([*parts, "4", _hex("BHXH Quận 1")]) + "|$"
    rec = parse_bhyt_qr(text)
    assert rec.valid_to is None and rec.date_of_birth == "1990"
    assert rec.benefit_code == "4" and rec.issuing_office == "BHXH Quận 1"
    assert parse_bhyt_qr(format_bhyt_qr(rec)) == rec


@pytest.mark.parametrize(
    ("index", "value", "field"),
    [
        (0, "DN479791234567", "card_number"),
        (0, "DN 4 79 7912345678", "card_number"),
        (1, "4e6", "full_name"),
        (1, "zz", "full_name"),
        (1, "ff", "full_name"),
        (1, "", "full_name"),
        (2, "1990-13-01", "date_of_birth"),
        (3, "3", "sex"),
        (4, "0a", "address"),
        (5, "79014x", "registered_facility"),
        (6, "-", "valid_from"),
        (7, "01/01/2024", "valid_to"),
        (12, "31/02/2020", "five_year_date"),
    ],
)
def test_bhyt_qr_errors_name_the_field(index: int, value: str, field: str) -> None:
    parts = BHYT14.split("|")
    parts[index] = value
    with pytest.raises(QrFormatError) as info:
        parse_bhyt_qr("|".join(parts) + "|$")
    assert info.value.field == field


@pytest.mark.parametrize("text", ["", BHYT14, BHYT14 + "|x|$", "DN4797912345678|$"])
def test_bhyt_qr_structure(text: str) -> None:
    with pytest.raises(QrFormatError) as info:
        parse_bhyt_qr(text)
    assert info.value.field == "structure"


# --- properties: any string in → a record or a typed error, nothing else ------------------------


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_cccd(text: str) -> None:
    try:
        assert isinstance(parse_cccd_qr(text), CccdQr)
    except QrFormatError as exc:
        assert exc.field in ("structure", *(f.name for f in dataclasses.fields(CccdQr)))


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_bhyt(text: str) -> None:
    try:
        assert isinstance(parse_bhyt_qr(text), BhytQr)
    except QrFormatError as exc:
        assert exc.field in ("structure", *(f.name for f in dataclasses.fields(BhytQr)))


_field = st.text(st.characters(blacklist_categories=["Cc", "Cs"], blacklist_characters="|$"), max_size=20)


@settings(deadline=None)
@given(st.lists(_field, min_size=13, max_size=16), st.sampled_from(["$", "|$"]))
def test_pipe_shaped_text_bhyt(parts: list[str], ending: str) -> None:
    with contextlib.suppress(QrFormatError):
        parse_bhyt_qr("|".join(parts) + ending)


_name = (
    st.text(st.characters(whitelist_categories=["L", "Zs"], max_codepoint=0x1EF9), min_size=1, max_size=30)
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
)
_dates = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))


@settings(deadline=None)
@given(
    st.from_regex(r"[0-9]{12}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[0-9]{9}", fullmatch=True)),
    _name,
    _dates,
    st.sampled_from(["Nam", "Nữ"]),
    _name,
    _dates,
)
def test_cccd_round_trip(
    cccd: str, cmnd: str | None, name: str, dob: dt.date, sex: str, address: str, issued: dt.date
) -> None:
    import unicodedata

    name, address = unicodedata.normalize("NFC", name), unicodedata.normalize("NFC", address)
    rec = CccdQr(cccd, cmnd, name, dob, sex, address, issued)
    assert parse_cccd_qr(format_cccd_qr(rec)) == rec


_cards = st.from_regex(CARD_NUMBER_RE, fullmatch=True)


@settings(deadline=None)
@given(_cards, _name, _dates, st.one_of(st.none(), _dates), st.booleans())
def test_bhyt_round_trip(card: str, name: str, start: dt.date, end: dt.date | None, newer: bool) -> None:
    import unicodedata

    name = unicodedata.normalize("NFC", name)
    if end is not None and end < start:
        start, end = end, start
    rec = BhytQr(
        card_number=parse_card_number(card),
        full_name=name,
        date_of_birth="01/02/1990",
        sex="Nữ",
        address=name,
        registered_facility="01097",
        valid_from=start,
        valid_to=end,
        issue_date=start,
        management_code="0101",
        parent_name=name if newer else None,
        area_code=None,
        five_year_date=None,
        check_string="abc-1",
        benefit_code="4" if newer else None,
        issuing_office=name if newer else None,
    )
    assert parse_bhyt_qr(format_bhyt_qr(rec)) == rec

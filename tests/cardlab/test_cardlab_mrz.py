from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bhytgate_clients.cardlab import mrz


def test_check_digits_match_icao_9303_examples() -> None:
    # ICAO 9303-5 TD1 specimen: I<UTOD231458907<<<<<<<<<<<<<<< / 7408122F1204159UTO<<<<<<<<<<<6
    assert mrz.check_digit("D23145890") == "7"
    assert mrz.check_digit("740812") == "2"
    assert mrz.check_digit("120415") == "9"
    upper = "D231458907" + "<" * 15
    composite = upper + "7408122" + "1204159" + "<" * 11
    assert mrz.check_digit(composite) == "6"
    assert mrz.check_digit("L898902C3") == "6"


def test_transliteration_of_vietnamese_names() -> None:
    assert mrz.name_field("Đỗ", "Thị Phương") == "DO<<THI<PHUONG".ljust(30, "<")
    assert mrz.transliterate("Nguyễn Văn Ấn") == "NGUYEN<VAN<AN"


def _validate(td1: mrz.TD1) -> None:
    l1, l2, l3 = td1.line1, td1.line2, td1.line3
    assert len(l1) == len(l2) == len(l3) == 30
    assert l1[:5] == "IDVNM"
    assert mrz.check_digit(l1[5:14]) == l1[14]
    assert mrz.check_digit(l2[0:6]) == l2[6]
    assert mrz.check_digit(l2[8:14]) == l2[14]
    assert l2[15:18] == "VNM"
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    assert mrz.check_digit(composite) == l2[29]


@given(
    number=st.from_regex(r"0[0-9]{2}[0-3][0-9]{8}", fullmatch=True),
    born=st.dates(dt.date(1930, 1, 1), dt.date(2010, 12, 31)),
    expiry=st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2070, 12, 31)),
    sex=st.sampled_from(["M", "F"]),
)
def test_cccd_td1_is_consistent(number: str, born: dt.date, expiry: dt.date | None, sex: str) -> None:
    td1 = mrz.cccd_td1(
        cccd_number=number,
        date_of_birth=born,
        sex=sex,
        date_of_expiry=expiry,
        family_name="Nguyễn",
        given_names="Văn An",
    )
    _validate(td1)
    assert td1.line1[5:14] == number[3:]
    assert td1.line1[15:27] == number
    assert td1.line2[7] == sex
    assert td1.line3.startswith("NGUYEN<<VAN<AN<")

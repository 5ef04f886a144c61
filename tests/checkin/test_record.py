"""The QĐ 4750 check-in record: fields, formats, binding to the attestation; the pseudonyms."""

from __future__ import annotations

import datetime as dt

import defusedxml.ElementTree as DET
import pytest

from bhytgate.checkin.keys import CheckinKeys
from bhytgate.checkin.record import (
    FIELDS,
    CheckinDetails,
    attestation_id,
    birth,
    record_fields,
    render,
    sex,
)
from bhytgate.entitlement.model import Entitlement

ENT = Entitlement(
    card_number="DN4010123456789",
    social_insurance_number="0123456789",
    cccd_number="001085012345",
    full_name="Nguyễn Thị Bình <&>",
    date_of_birth="05/03/1985",
    sex="Nữ",
    address="Hà Nội",
    beneficiary_group="DN",
    benefit_code=4,
    province_code="01",
    registered_facility="01001",
    registered_facility_name="BV",
    issuing_office="BHXH HN",
    valid_from=dt.date(2026, 1, 1),
    valid_to=dt.date(2026, 12, 31),
)
AT = dt.datetime(2026, 11, 30, 23, 50, tzinfo=dt.UTC)  # 06:50 on 1 December in Vietnam


def test_the_record_is_the_check_in_table_as_a_hospital_sends_it() -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.e30.sig"
    att = attestation_id(token)
    xml = render(
        record_fields(
            verification_id="f" * 32,
            attestation=att,
            entitlement=ENT,
            cccd="001085012345",
            facility="01001",
            arrived_at=AT,
            details=CheckinDetails(
                ma_lk="LK-2026/001", ma_bn="BN77", ma_doituong_kcb="1.1", ma_loai_kcb="01"
            ),
        )
    )
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = DET.fromstring(xml, forbid_dtd=True)
    assert root.tag == "CHI_TIEU_TRANG_THAI_KCB" and root.find("CHUKYDONVI") is not None
    item = root.find("DSACH_TRANG_THAI_KCB/TRANG_THAI_KCB")
    assert item is not None
    assert [child.tag for child in item] == list(FIELDS)
    got = {child.tag: child.text or "" for child in item}
    assert got["MA_LK"] == "LK-2026/001" and got["MA_BN"] == "BN77" and got["STT"] == "1"
    assert got["HO_TEN"] == "Nguyễn Thị Bình <&>" and got["SO_CCCD"] == "001085012345"
    assert got["NGAY_SINH"] == "198503050000" and got["GIOI_TINH"] == "2"
    assert got["MA_THE_BHYT"] == "DN4010123456789" and got["MA_DKBD"] == "01001"
    assert (got["GT_THE_TU"], got["GT_THE_DEN"]) == ("20260101", "20261231")
    assert got["NGAY_VAO"] == "202612010650"  # Vietnam time
    assert got["MA_DOITUONG_KCB"] == "1.1" and got["MA_LOAI_KCB"] == "01" and got["MA_CSKCB"] == "01001"
    assert got["DU_PHONG"] == f"bhytgate:v1;vid={'f' * 32};att={att}"
    assert all(got[f] == "" for f in ("MA_DICH_VU", "MA_THUOC", "NGAY_YL", "NGAY_VAO_NOI_TRU"))
    assert len(att) == 64 and att != attestation_id(token + "x")


@pytest.mark.parametrize(
    ("dob", "expected"), [("05/03/1985", "198503050000"), ("1950", "195000000000"), ("?", "")]
)
def test_birth_dates_as_the_tables_write_them(dob: str, expected: str) -> None:
    assert birth(dob) == expected


def test_sex_codes() -> None:
    assert [sex(s) for s in ("Nam", "Nữ", "", "khác")] == ["1", "2", "3", "3"]


def test_pseudonyms_are_keyed_separated_and_follow_a_card_renewal() -> None:
    keys, other = CheckinKeys(b"a" * 32), CheckinKeys(b"b" * 32)
    assert keys.cccd("001085012345") == keys.cccd("001085012345") != other.cccd("001085012345")
    assert keys.cccd("0123456789") != keys.card("DN4010123456789")
    assert keys.card("DN4010123456789") == keys.card("HT3010123456789")  # same BHXH number
    assert keys.visit("01001", "LK1") != keys.visit("79014", "LK1")
    assert "001085012345" not in keys.cccd("001085012345")

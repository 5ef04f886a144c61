"""The 2024 Căn cước card's QR (back of the card) parsed next to the CCCD's: earlier numbers, the
expiry date, further fields counted but never kept. A QR is a lookup key, never proof."""

from __future__ import annotations

import datetime as dt

import pytest

from bhytgate.entitlement.qr import QrFormatError, format_cccd_qr, parse_cccd_qr

OLD = "079099001234|123456789|Nguyễn Văn An|15031990|Nam|12 Lê Lợi, Quận 1, TP Hồ Chí Minh|01072021"
NEW = (
    "001224012345|012345678,001090123456|Nguyễn Thị Bình|02032020|Nữ|"
    "Phường Bến Nghé, TP Hồ Chí Minh|15072024|02032034|Nguyễn Văn Cha|001080000001"
)


def test_old_and_new_forms_side_by_side() -> None:
    old = parse_cccd_qr(OLD)
    assert old.form == "cccd" and old.expiry_date is None and old.cmnd_number == "123456789"
    new = parse_cccd_qr(NEW)
    assert new.form == "can_cuoc_2024"
    assert new.cccd_number == "001224012345"
    assert new.earlier_numbers == ("012345678", "001090123456") and new.cmnd_number == "012345678"
    assert new.full_name == "Nguyễn Thị Bình" and new.sex == "Nữ"
    assert new.date_of_birth == dt.date(2020, 3, 2) and new.issue_date == dt.date(2024, 7, 15)
    assert new.expiry_date == dt.date(2034, 3, 2)
    # relatives' names and numbers are counted, not kept
    assert new.extra_fields == 2
    assert "Nguyễn Văn Cha" not in repr(new) and "001080000001" not in repr(new)


def test_2024_form_round_trip_and_no_expiry() -> None:
    rec = parse_cccd_qr(NEW)
    again = parse_cccd_qr(format_cccd_qr(rec))
    assert again.earlier_numbers == rec.earlier_numbers and again.expiry_date == rec.expiry_date
    open_ended = parse_cccd_qr(OLD.replace("|123456789|", "||") + "|Không thời hạn")
    assert open_ended.form == "can_cuoc_2024" and open_ended.expiry_date is None
    assert open_ended.cmnd_number is None and open_ended.earlier_numbers == ()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (NEW.replace("012345678,", "01234567x,"), "earlier_numbers"),
        (NEW.replace("|02032034|", "|31022034|"), "expiry_date"),
        (OLD.replace("|123456789|", "|123456789,987654321|"), "cmnd_number"),  # old form: one number
        ("|".join([NEW] * 10), "structure"),  # far more fields than any card prints
    ],
)
def test_2024_form_errors_name_the_field(text: str, field: str) -> None:
    with pytest.raises(QrFormatError) as info:
        parse_cccd_qr(text)
    assert info.value.field == field

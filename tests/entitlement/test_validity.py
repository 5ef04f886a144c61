from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.result_codes import MaKetQua
from bhytgate.entitlement.validity import check_entitlement, first_usable, holder_card

MakeEntitlement = Callable[..., Entitlement]

TODAY = dt.date(2025, 6, 15)


def code(make: MakeEntitlement, today: dt.date = TODAY, **kw: Any) -> MaKetQua:
    checks = {k: kw.pop(k) for k in ("name", "dob", "sex") if k in kw}
    return check_entitlement(make(**kw), today, **checks).ma_ket_qua


def test_valid_card(make_entitlement: MakeEntitlement) -> None:
    result = check_entitlement(make_entitlement(), TODAY)
    assert result.ma_ket_qua is MaKetQua.VALID and result.usable and result.is_success
    assert "31/12/2025" in result.ghi_chu and "Nguyễn" not in result.ghi_chu


def test_bounds_are_inclusive_and_open_end(make_entitlement: MakeEntitlement) -> None:
    assert code(make_entitlement, dt.date(2025, 1, 1)) is MaKetQua.VALID
    assert code(make_entitlement, dt.date(2025, 12, 31)) is MaKetQua.VALID
    assert code(make_entitlement, dt.date(2026, 1, 1)) is MaKetQua.EXPIRED
    assert code(make_entitlement, dt.date(2024, 12, 31)) is MaKetQua.EXPIRED
    assert code(make_entitlement, dt.date(2090, 1, 1), valid_to=None) is MaKetQua.VALID


def test_flags_come_before_dates(make_entitlement: MakeEntitlement) -> None:
    assert code(make_entitlement, revoked=True) is MaKetQua.REVOKED
    moved = code(make_entitlement, reduced_reason="moved_out_of_province")
    assert moved is MaKetQua.REDUCED_MOVED_OUT_OF_PROVINCE
    assert code(make_entitlement, reduced_reason="124") is MaKetQua.REDUCED_STOPPED
    assert code(make_entitlement, reduced_reason="something odd") is MaKetQua.REDUCED
    assert code(make_entitlement, dt.date(2030, 1, 1), revoked=True) is MaKetQua.REVOKED


@pytest.mark.parametrize(
    ("fund", "expected"), [("army", MaKetQua.ARMY_FUND), ("police", MaKetQua.POLICE_FUND)]
)
def test_other_funds_need_review(make_entitlement: MakeEntitlement, fund: str, expected: MaKetQua) -> None:
    result = check_entitlement(make_entitlement(managed_by=fund), TODAY)
    assert result.ma_ket_qua is expected and result.needs_review and not result.usable and result.is_success


def test_renewals(make_entitlement: MakeEntitlement) -> None:
    renewed: dict[str, Any] = {
        "new_card_number": "DN4797912345679",
        "new_valid_from": dt.date(2026, 1, 1),
        "new_valid_to": dt.date(2026, 12, 31),
    }
    assert code(make_entitlement, **renewed) is MaKetQua.OLD_VALID_NEW_ISSUED
    after = check_entitlement(make_entitlement(**renewed), dt.date(2026, 2, 1))
    assert after.ma_ket_qua is MaKetQua.OLD_EXPIRED_NEW_ISSUED and after.usable
    assert "01/01/2026" in after.ghi_chu
    gap = {**renewed, "new_valid_from": dt.date(2026, 3, 1)}
    assert code(make_entitlement, dt.date(2026, 2, 1), **gap) is MaKetQua.EXPIRED


def test_not_yet_valid_is_expired_with_note(make_entitlement: MakeEntitlement) -> None:
    result = check_entitlement(make_entitlement(), dt.date(2024, 6, 1))
    assert result.ma_ket_qua is MaKetQua.EXPIRED and "chưa đến hạn" in result.ghi_chu


def test_holder_data(make_entitlement: MakeEntitlement) -> None:
    assert code(make_entitlement, name="  nguyễn   VĂN an ") is MaKetQua.VALID
    assert code(make_entitlement, name="Nguyễn Văn Bình") is MaKetQua.WRONG_NAME_FIRST_LETTER_MATCHES
    assert code(make_entitlement, name="Trần Văn An") is MaKetQua.WRONG_NAME
    assert code(make_entitlement, name="") is MaKetQua.WRONG_NAME
    assert code(make_entitlement, dob=dt.date(1990, 3, 15)) is MaKetQua.VALID
    assert code(make_entitlement, dob="1990") is MaKetQua.VALID
    assert code(make_entitlement, dob="1990-03-16") is MaKetQua.WRONG_DATE_OF_BIRTH
    assert code(make_entitlement, dob="garbage") is MaKetQua.WRONG_DATE_OF_BIRTH
    assert code(make_entitlement, dob=dt.date(1990, 1, 1), date_of_birth="1990") is MaKetQua.VALID
    assert code(make_entitlement, sex="Nữ") is MaKetQua.WRONG_SEX
    # a mismatch wins over the card's own state: the answer is about the wrong person
    assert code(make_entitlement, name="Trần", revoked=True) is MaKetQua.WRONG_NAME


def test_a_newer_card_of_someone_else_or_not_yet_valid_does_not_hide_the_holders(
    make_entitlement: MakeEntitlement,
) -> None:
    """Attack run 2026-12-03: the check-in took the newest card whatever it said. A newer card
    naming someone else, or starting later, is passed over; one the fund revoked, reduced or left
    with another fund is this holder's and decides (second review: an older card overrode it)."""
    good = make_entitlement(card_number="DN4010123456789")
    other_holder = make_entitlement(card_number="DN4790123456789", full_name="Trần Thị Khác")
    later = make_entitlement(card_number="DN4790123456780", valid_from=TODAY + dt.timedelta(days=30))
    card, result = first_usable([other_holder, later, good], TODAY, good.full_name, None)
    assert card is good and result is not None and result.usable
    for blocked, code in (
        (make_entitlement(card_number="DN4790123456781", revoked=True), MaKetQua.REVOKED),
        (make_entitlement(card_number="DN4790123456782", managed_by="army"), MaKetQua.ARMY_FUND),
    ):
        card, result = first_usable([blocked, good], TODAY, good.full_name, None)
        assert card is blocked and result is not None and result.ma_ket_qua is code
    card, result = first_usable([other_holder], TODAY, good.full_name, None)  # nothing else: it, with why
    assert card is other_holder and result is not None and result.ma_ket_qua is MaKetQua.WRONG_NAME
    assert first_usable([], TODAY, None, None) == (None, None)


def test_the_holders_own_card_comes_before_a_linked_one(make_entitlement: MakeEntitlement) -> None:
    linked = make_entitlement(card_number="DN4790123456789", cccd_number=None)
    own = make_entitlement(card_number="DN4010123456789", cccd_number="001090000001", revoked=True)
    card, result = holder_card([linked, own], "001090000001", TODAY, None, None)
    assert card is own and result is not None and result.ma_ket_qua is MaKetQua.REVOKED
    card, _ = holder_card([linked], "001090000001", TODAY, None, None)  # none of its own: the link's
    assert card is linked

"""Is this card usable today? The answer in the card-check service's result codes (maKetQua).

Order of checks: the holder's data first (a card checked against the wrong person says nothing
about that person), then the fund's flags (revoked, reduced, other fund), then the dates.
Pure: `today` is passed in, so that the answer is reproducible in tests and audits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from collections.abc import Sequence

from bhytgate.entitlement.dates import birth_matches, format_vn
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.result_codes import MaKetQua, parse_reduced_reason


@dataclasses.dataclass(frozen=True, slots=True)
class EntitlementCheck:
    ma_ket_qua: MaKetQua
    ghi_chu: str  # description plus dates; never names or numbers
    usable: bool  # the card grants cover today (possibly through the new card, 003)
    needs_review: bool = False  # staff must check papers (001/002: another fund holds the data)

    @property
    def is_success(self) -> bool:
        """What a hospital system would conclude from ma_ket_qua alone (000-004)."""
        return self.ma_ket_qua.is_success


def normalize_name(name: str) -> str:
    """Compare names as people write them: NFC, case-insensitive, single spaces."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _covers(start: dt.date | None, end: dt.date | None, today: dt.date) -> bool:
    return (start is None or start <= today) and (end is None or today <= end)


def _period(start: dt.date | None, end: dt.date | None) -> str:
    text = f"từ {format_vn(start)}" if start else ""
    text += f" đến {format_vn(end)}" if end else " (không thời hạn)"
    return text.strip()


def _result(code: MaKetQua, usable: bool, note: str = "", *, review: bool = False) -> EntitlementCheck:
    ghi_chu = f"{code.vi}. {note}" if note else code.vi
    return EntitlementCheck(code, ghi_chu, usable, review)


def check_entitlement(
    ent: Entitlement,
    today: dt.date,
    *,
    name: str | None = None,
    dob: dt.date | str | None = None,
    sex: str | None = None,
) -> EntitlementCheck:
    """The maKetQua for `ent` on `today`; name/dob/sex are compared only when given."""
    if name is not None:
        given, stored = normalize_name(name), normalize_name(ent.full_name)
        if given != stored:
            if given[:1] and given[:1] == stored[:1]:
                return _result(MaKetQua.WRONG_NAME_FIRST_LETTER_MATCHES, False)
            return _result(MaKetQua.WRONG_NAME, False)
    if dob is not None:
        try:
            matches = birth_matches(ent.date_of_birth, dob)
        except ValueError:
            matches = False
        if not matches:
            return _result(MaKetQua.WRONG_DATE_OF_BIRTH, False)
    if sex is not None and normalize_name(sex) != normalize_name(ent.sex):
        return _result(MaKetQua.WRONG_SEX, False)

    if ent.revoked:
        return _result(MaKetQua.REVOKED, False)
    if ent.reduced_reason:
        try:
            code = parse_reduced_reason(ent.reduced_reason).code
        except ValueError:
            code = MaKetQua.REDUCED
        return _result(code, False)
    if ent.managed_by == "army":
        return _result(MaKetQua.ARMY_FUND, False, review=True)
    if ent.managed_by == "police":
        return _result(MaKetQua.POLICE_FUND, False, review=True)

    old_valid = _covers(ent.valid_from, ent.valid_to, today)
    if ent.new_card_number:
        new_period = _period(ent.new_valid_from, ent.new_valid_to)
        if old_valid:
            return _result(MaKetQua.OLD_VALID_NEW_ISSUED, True, f"Thẻ mới có giá trị {new_period}")
        if _covers(ent.new_valid_from, ent.new_valid_to, today):
            return _result(MaKetQua.OLD_EXPIRED_NEW_ISSUED, True, f"Thẻ mới có giá trị {new_period}")
        return _result(MaKetQua.EXPIRED, False, f"Thẻ mới có giá trị {new_period}")
    period = _period(ent.valid_from, ent.valid_to)
    if old_valid:
        return _result(MaKetQua.VALID, True, f"Giá trị {period}")
    if today < ent.valid_from:
        return _result(MaKetQua.EXPIRED, False, f"Thẻ chưa đến hạn sử dụng: giá trị {period}")
    return _result(MaKetQua.EXPIRED, False, f"Giá trị {period}")


# A card that names someone else: checked against the wrong person, it says nothing about this one.
_OTHER_HOLDER = frozenset(
    {
        MaKetQua.WRONG_NAME,
        MaKetQua.WRONG_NAME_FIRST_LETTER_MATCHES,
        MaKetQua.WRONG_DATE_OF_BIRTH,
        MaKetQua.WRONG_SEX,
    }
)


def first_usable(
    cards: Sequence[Entitlement], today: dt.date, name: str | None, dob: str | None
) -> tuple[Entitlement | None, EntitlementCheck | None]:
    """The card to decide on (newest first): the first one, unless it names another holder or
    only starts later, in which case the next. A card of this holder that the fund revoked,
    reduced or left with another fund stays authoritative: an older card must not override it
    (second review, 2026-12-03)."""
    checked = [(card, check_entitlement(card, today, name=name, dob=dob)) for card in cards]
    for card, result in checked:
        if result.ma_ket_qua in _OTHER_HOLDER or card.valid_from > today:
            continue
        return card, result
    return checked[0] if checked else (None, None)


def holder_card(
    cards: Sequence[Entitlement], cccd: str, today: dt.date, name: str | None, dob: str | None
) -> tuple[Entitlement | None, EntitlementCheck | None]:
    """`first_usable` among the holder's own cards (whose record names this CCCD) when there are
    any, else among those reached by a link: what a check-in, the child's included, decides on."""
    own = [e for e in cards if e.cccd_number == cccd]
    return first_usable(own or cards, today, name, dob)

"""maKetQua: the card-check service's result codes, which hospital systems already act on.

The gateway returns these unchanged for the entitlement answer and never invents new values: its
own chip, face and liveness outcomes travel in a separate field (see the proto's ReasonCode).
"""

from __future__ import annotations

import enum


class MaKetQua(enum.StrEnum):
    """Result code as the three-digit string hospitals receive ("000", "110", ...)."""

    VALID = "000"
    ARMY_FUND = "001"
    POLICE_FUND = "002"
    OLD_EXPIRED_NEW_ISSUED = "003"
    OLD_VALID_NEW_ISSUED = "004"
    EXPIRED = "010"
    NOT_FOUND = "050"
    WRONG_CARD_CODE = "051"
    WRONG_PROVINCE_CODE = "052"
    WRONG_BENEFIT_CODE = "053"
    WRONG_NAME = "060"
    WRONG_NAME_FIRST_LETTER_MATCHES = "061"
    WRONG_DATE_OF_BIRTH = "070"
    WRONG_SEX = "080"
    WRONG_REGISTERED_FACILITY = "090"
    CARD_DATA_READ_ERROR = "100"
    SERVER_ERROR_101 = "101"
    REVOKED = "110"
    REDUCED = "120"
    REDUCED_MOVED_OUT_OF_PROVINCE = "121"
    REDUCED_MOVED_WITHIN_PROVINCE = "122"
    REDUCED_RE_REGISTERED = "123"
    REDUCED_STOPPED = "124"
    CHILD_WITHOUT_CARD = "130"
    BAD_PARAMETER_FORMAT = "205"
    AUTHENTICATION_ERROR = "401"
    SERVER_ERROR = "500"

    @property
    def vi(self) -> str:
        """Vietnamese description, as hospital staff know it."""
        return _DESCRIPTIONS[self][0]

    @property
    def en(self) -> str:
        """English description."""
        return _DESCRIPTIONS[self][1]

    @property
    def is_success(self) -> bool:
        """Hospital systems treat 000-004 as success (the card can be used, maybe after a check)."""
        return self in _SUCCESS


_SUCCESS = frozenset(
    {
        MaKetQua.VALID,
        MaKetQua.ARMY_FUND,
        MaKetQua.POLICE_FUND,
        MaKetQua.OLD_EXPIRED_NEW_ISSUED,
        MaKetQua.OLD_VALID_NEW_ISSUED,
    }
)

_DESCRIPTIONS: dict[MaKetQua, tuple[str, str]] = {
    MaKetQua.VALID: ("Thẻ còn giá trị sử dụng", "Card valid"),
    MaKetQua.ARMY_FUND: (
        "Thẻ do BHXH Bộ Quốc phòng quản lý, đề nghị kiểm tra thẻ và giấy tờ tùy thân",
        "Card managed by the army insurance fund: check the card and identity papers",
    ),
    MaKetQua.POLICE_FUND: (
        "Thẻ do BHXH Bộ Công an quản lý, đề nghị kiểm tra thẻ và giấy tờ tùy thân",
        "Card managed by the police insurance fund: check the card and identity papers",
    ),
    MaKetQua.OLD_EXPIRED_NEW_ISSUED: (
        "Thẻ cũ hết giá trị sử dụng nhưng đã được cấp thẻ mới",
        "Old card expired; a new card has been issued",
    ),
    MaKetQua.OLD_VALID_NEW_ISSUED: (
        "Thẻ cũ còn giá trị sử dụng nhưng đã được cấp thẻ mới",
        "Old card still valid; a new card has been issued",
    ),
    MaKetQua.EXPIRED: ("Thẻ hết giá trị sử dụng", "Card expired"),
    MaKetQua.NOT_FOUND: ("Không tìm thấy thông tin thẻ", "No card found"),
    MaKetQua.WRONG_CARD_CODE: ("Mã thẻ không đúng", "Wrong card code"),
    MaKetQua.WRONG_PROVINCE_CODE: (
        "Mã tỉnh cấp thẻ (ký tự thứ 4, 5 của mã thẻ) không đúng",
        "Wrong province code (characters 4-5 of the card code)",
    ),
    MaKetQua.WRONG_BENEFIT_CODE: (
        "Mã quyền lợi thẻ (ký tự thứ 3 của mã thẻ) không đúng",
        "Wrong benefit code (character 3 of the card code)",
    ),
    MaKetQua.WRONG_NAME: ("Sai họ tên", "Wrong name"),
    MaKetQua.WRONG_NAME_FIRST_LETTER_MATCHES: (
        "Sai họ tên (đúng ký tự đầu)",
        "Wrong name (first letter matches)",
    ),
    MaKetQua.WRONG_DATE_OF_BIRTH: ("Sai ngày sinh", "Wrong date of birth"),
    MaKetQua.WRONG_SEX: ("Sai giới tính", "Wrong sex"),
    MaKetQua.WRONG_REGISTERED_FACILITY: (
        "Sai nơi đăng ký khám chữa bệnh ban đầu",
        "Wrong registered primary-care facility",
    ),
    MaKetQua.CARD_DATA_READ_ERROR: ("Lỗi khi lấy dữ liệu sổ thẻ", "Card data read error"),
    MaKetQua.SERVER_ERROR_101: ("Lỗi server", "Server error"),
    MaKetQua.REVOKED: ("Thẻ đã thu hồi", "Card revoked"),
    MaKetQua.REDUCED: ("Thẻ đã báo giảm", "Card reported reduced"),
    MaKetQua.REDUCED_MOVED_OUT_OF_PROVINCE: (
        "Thẻ đã báo giảm. Chuyển ngoại tỉnh",
        "Card reported reduced: moved to another province",
    ),
    MaKetQua.REDUCED_MOVED_WITHIN_PROVINCE: (
        "Thẻ đã báo giảm. Chuyển nội tỉnh",
        "Card reported reduced: moved within the province",
    ),
    MaKetQua.REDUCED_RE_REGISTERED: (
        "Thẻ đã báo giảm. Do tăng lại cùng đơn vị",
        "Card reported reduced: re-registered with the same unit",
    ),
    MaKetQua.REDUCED_STOPPED: (
        "Thẻ đã báo giảm. Ngừng tham gia",
        "Card reported reduced: stopped participating",
    ),
    MaKetQua.CHILD_WITHOUT_CARD: ("Trẻ em không xuất trình thẻ", "Child without a card"),
    MaKetQua.BAD_PARAMETER_FORMAT: ("Lỗi sai định dạng tham số", "Bad parameter format"),
    MaKetQua.AUTHENTICATION_ERROR: ("Lỗi xác thực tài khoản", "Authentication error"),
    MaKetQua.SERVER_ERROR: ("Lỗi server", "Server error"),
}


def is_success(code: MaKetQua | str) -> bool:
    """True for 000-004. Accepts the raw string a hospital system would see; unknown codes fail."""
    try:
        return MaKetQua(code).is_success
    except ValueError:
        return False


class ReducedReason(enum.StrEnum):
    """Why a card was reported reduced (báo giảm); the stored form of Entitlement.reduced_reason."""

    REDUCED = "reduced"
    MOVED_OUT_OF_PROVINCE = "moved_out_of_province"
    MOVED_WITHIN_PROVINCE = "moved_within_province"
    RE_REGISTERED = "re_registered"
    STOPPED = "stopped"

    @property
    def code(self) -> MaKetQua:
        return _REDUCED_CODES[self]


_REDUCED_CODES: dict[ReducedReason, MaKetQua] = {
    ReducedReason.REDUCED: MaKetQua.REDUCED,
    ReducedReason.MOVED_OUT_OF_PROVINCE: MaKetQua.REDUCED_MOVED_OUT_OF_PROVINCE,
    ReducedReason.MOVED_WITHIN_PROVINCE: MaKetQua.REDUCED_MOVED_WITHIN_PROVINCE,
    ReducedReason.RE_REGISTERED: MaKetQua.REDUCED_RE_REGISTERED,
    ReducedReason.STOPPED: MaKetQua.REDUCED_STOPPED,
}


def parse_reduced_reason(text: str) -> ReducedReason:
    """Stored reason → enum. Also accepts the code itself ("120".."124") and "moved" (generic).

    Raises ValueError for anything else, so that a typo in an import never reads as "valid".
    """
    value = text.strip().lower()
    for reason, code in _REDUCED_CODES.items():
        if value in (reason.value, code.value):
            return reason
    if value == "moved":
        return ReducedReason.REDUCED
    raise ValueError(f"unknown reduced reason {text!r}; expected one of {[r.value for r in ReducedReason]}")

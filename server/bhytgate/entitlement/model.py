"""The BHYT entitlement record, named after the social-insurance card-check service's fields.

Field names follow the hospital-facing vocabulary (`maThe`, `gtTheTu`, ...) in snake_case English
so that the gRPC layer can map them one to one; see ../shared/bhyt/README.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True, slots=True)
class Entitlement:
    """One BHYT card as the fund knows it. Immutable: a renewal is a new record."""

    card_number: str  # maThe, 15 characters: group(2) benefit(1) province(2) bhxh(10)
    social_insurance_number: str  # maSoBHXH, 10 digits
    cccd_number: str | None  # 12-digit citizen ID the card is linked to, if known
    full_name: str  # hoTen
    date_of_birth: str  # ngaySinh, dd/MM/yyyy or yyyy (the fund stores year-only births)
    sex: str  # gioiTinh: "Nam" | "Nữ"
    address: str  # diaChi
    beneficiary_group: str  # 2-letter group code, e.g. "DN", "HT", "TE"
    benefit_code: int  # 1..5 (mức hưởng)
    province_code: str  # 2 digits
    registered_facility: str  # maDKBD, 5 digits (province + facility)
    registered_facility_name: str  # tenDKBD
    issuing_office: str  # cqBHXH
    valid_from: dt.date  # gtTheTu
    valid_to: dt.date | None  # gtTheDen; None = open-ended
    area_code: str | None = None  # maKV: K1/K2/K3
    five_year_date: dt.date | None = None  # ngayDu5Nam
    copay_exempt_from: dt.date | None = None  # miễn cùng chi trả, where granted
    old_card_number: str | None = None  # maTheCu
    new_card_number: str | None = None  # maTheMoi
    new_valid_from: dt.date | None = None  # gtTheTuMoi
    new_valid_to: dt.date | None = None  # gtTheDenMoi
    new_registered_facility: str | None = None  # maDKBDMoi
    new_registered_facility_name: str | None = None  # tenDKBDMoi
    revoked: bool = False  # thu hồi (maKetQua 110)
    reduced_reason: str | None = None  # báo giảm: moved / stopped / re-registered (120-124)
    managed_by: str | None = None  # "army" | "police" funds (maKetQua 001/002)

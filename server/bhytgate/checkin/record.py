"""The check-in table's record (QĐ 4750/QĐ-BYT, "Bảng chỉ tiêu dữ liệu về trạng thái KCB") for one
accepted check-in, as the XML a hospital system sends to BHXH's claims gateway.

Pure: no storage, no gRPC. The gateway fills what it knows: the person and card from the fund's
entitlement record (what BHXH compares against), the verified CCCD, the arrival time (the
verification's, Vietnam time), the facility; the hospital's own keys (MA_LK, MA_BN, patient category,
kind of visit) when the caller gives them. What only the hospital can know later (first service,
drug, supply, inpatient admission) is left empty. DU_PHONG, the reserved field, binds the record to
the attestation: `bhytgate:v1;vid=<verification id>;att=<sha256 of the JWS>`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import xml.etree.ElementTree as ET  # building XML only: nothing is parsed with it

from bhytgate.entitlement.model import Entitlement

VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")  # no daylight saving time
ROOT, LIST, ITEM = "CHI_TIEU_TRANG_THAI_KCB", "DSACH_TRANG_THAI_KCB", "TRANG_THAI_KCB"
FIELDS = (
    "MA_LK",
    "STT",
    "MA_BN",
    "HO_TEN",
    "SO_CCCD",
    "NGAY_SINH",
    "GIOI_TINH",
    "MA_THE_BHYT",
    "MA_DKBD",
    "GT_THE_TU",
    "GT_THE_DEN",
    "MA_DOITUONG_KCB",
    "NGAY_VAO",
    "NGAY_VAO_NOI_TRU",
    "LY_DO_VNT",
    "MA_LY_DO_VNT",
    "MA_LOAI_KCB",
    "MA_CSKCB",
    "MA_DICH_VU",
    "TEN_DICH_VU",
    "MA_THUOC",
    "TEN_THUOC",
    "MA_VAT_TU",
    "TEN_VAT_TU",
    "NGAY_YL",
    "DU_PHONG",
)


@dataclasses.dataclass(frozen=True, slots=True)
class CheckinConfig:
    """How long check-in data is kept, and the reconciliation's default window.

    The sealed record (name, date of birth, numbers) serves the hospital system that has to send it
    at arrival, and a resend: days, not months. The pseudonymous match row (no names, keyed HMACs of
    the numbers) serves claims reconciliation, which runs after monthly and quarterly settlement."""

    record_ttl: dt.timedelta = dt.timedelta(days=7)
    keep: dt.timedelta = dt.timedelta(days=400)
    claims_window: dt.timedelta = dt.timedelta(hours=4)


@dataclasses.dataclass(frozen=True, slots=True)
class CheckinDetails:
    """What only the hospital system knows (validated by the servicer with `bhytgate.ids`)."""

    ma_lk: str = ""
    ma_bn: str = ""
    ma_doituong_kcb: str = ""
    ma_loai_kcb: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class CheckinRecord:
    verification_id: str
    attestation_id: str
    xml: bytes
    expires_at: dt.datetime


def attestation_id(token: str) -> str:
    """The attestation's id: SHA-256 of the compact JWS as released (its jti is the verification id)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def du_phong(verification_id: str, attestation: str) -> str:
    return f"bhytgate:v1;vid={verification_id};att={attestation}"


def minutes_local(moment: dt.datetime) -> str:
    """yyyymmddHHMM in Vietnam time (the tables' clock)."""
    return moment.astimezone(VIETNAM).strftime("%Y%m%d%H%M")


def day(value: dt.date | None) -> str:
    return "" if value is None else value.strftime("%Y%m%d")


def birth(dob: str) -> str:
    """The fund's dd/MM/yyyy or yyyy as yyyymmddHHMM, unknown parts 0 (as QĐ 130 writes them)."""
    parts = dob.strip().split("/")
    if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts):
        return f"{int(parts[2]):04d}{int(parts[1]):02d}{int(parts[0]):02d}0000"
    if len(parts) == 1 and parts[0].isascii() and parts[0].isdigit() and len(parts[0]) == 4:
        return f"{parts[0]}00000000"
    return ""


def sex(value: str) -> str:
    """1 male, 2 female, 3 unknown (the fund writes "Nam" / "Nữ")."""
    text = value.strip().lower()
    if text in ("nam", "1", "male", "m"):
        return "1"
    if text in ("nữ", "nu", "2", "female", "f"):
        return "2"
    return "3"


def record_fields(
    *,
    verification_id: str,
    attestation: str,
    entitlement: Entitlement,
    cccd: str,
    facility: str,
    arrived_at: dt.datetime,
    details: CheckinDetails,
) -> dict[str, str]:
    """The record's fields in table order (empty where the gateway cannot know the value)."""
    values = dict.fromkeys(FIELDS, "")
    values.update(
        MA_LK=details.ma_lk,
        STT="1",
        MA_BN=details.ma_bn,
        HO_TEN=entitlement.full_name,
        SO_CCCD=cccd,
        NGAY_SINH=birth(entitlement.date_of_birth),
        GIOI_TINH=sex(entitlement.sex),
        MA_THE_BHYT=entitlement.card_number,
        MA_DKBD=entitlement.registered_facility,
        GT_THE_TU=day(entitlement.valid_from),
        GT_THE_DEN=day(entitlement.valid_to),
        MA_DOITUONG_KCB=details.ma_doituong_kcb,
        NGAY_VAO=minutes_local(arrived_at),
        MA_LOAI_KCB=details.ma_loai_kcb,
        MA_CSKCB=facility,
        DU_PHONG=du_phong(verification_id, attestation),
    )
    return values


def render(fields: dict[str, str]) -> bytes:
    """CHI_TIEU_TRANG_THAI_KCB / DSACH_TRANG_THAI_KCB / TRANG_THAI_KCB, UTF-8, with an empty
    CHUKYDONVI: the facility signs what it sends with its own certificate."""
    root = ET.Element(ROOT)
    item = ET.SubElement(ET.SubElement(root, LIST), ITEM)
    for name in FIELDS:
        ET.SubElement(item, name).text = fields.get(name, "")
    ET.SubElement(root, "CHUKYDONVI")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))

"""Domain → wire: the entitlement in the card-check service's vocabulary (proto Entitlement).

Lives next to the generated code so that the one-to-one field mapping is written once, for the
service layer and the tests alike.
"""

from __future__ import annotations

import datetime as dt

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.entitlement.dates import format_vn
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validity import EntitlementCheck


def _d(value: dt.date | None) -> str:
    return format_vn(value) if value is not None else ""


def entitlement_to_proto(ent: Entitlement, check: EntitlementCheck) -> pb.Entitlement:
    """Fill every field; dates as dd/MM/yyyy, absent values as "" (proto3 strings)."""
    return pb.Entitlement(
        ma_the=ent.card_number,
        ho_ten=ent.full_name,
        ngay_sinh=ent.date_of_birth,
        gioi_tinh=ent.sex,
        dia_chi=ent.address,
        ma_dkbd=ent.registered_facility,
        ten_dkbd=ent.registered_facility_name,
        cq_bhxh=ent.issuing_office,
        gt_the_tu=_d(ent.valid_from),
        gt_the_den=_d(ent.valid_to),
        ma_kv=ent.area_code or "",
        ngay_du_5_nam=_d(ent.five_year_date),
        ma_so_bhxh=ent.social_insurance_number,
        ma_the_cu=ent.old_card_number or "",
        ma_the_moi=ent.new_card_number or "",
        gt_the_tu_moi=_d(ent.new_valid_from),
        gt_the_den_moi=_d(ent.new_valid_to),
        ma_dkbd_moi=ent.new_registered_facility or "",
        ten_dkbd_moi=ent.new_registered_facility_name or "",
        muc_huong=ent.benefit_code,
        doi_tuong=ent.beneficiary_group,
        ma_ket_qua=check.ma_ket_qua.value,
        ghi_chu=check.ghi_chu,
        ngay_mien_cct=_d(ent.copay_exempt_from),
    )

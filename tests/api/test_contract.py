"""The generated contract imports, follows AIP conventions, and maps the domain one to one."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from google.protobuf import descriptor as _descriptor

from bhytgate.api.convert import entitlement_to_proto
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validity import check_entitlement


def _enums() -> list[_descriptor.EnumDescriptor]:
    found = list(pb.DESCRIPTOR.enum_types_by_name.values())
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        found += message.enum_types
    return found


@pytest.mark.parametrize("enum", _enums(), ids=lambda e: e.name)
def test_enum_zero_is_unspecified(enum: _descriptor.EnumDescriptor) -> None:
    zero = enum.values_by_number[0].name
    prefix = "".join("_" + c if c.isupper() else c for c in enum.name).lstrip("_").upper()
    assert zero == f"{prefix}_UNSPECIFIED"
    assert all(v.name.startswith(prefix + "_") for v in enum.values)


def test_services_have_one_request_and_response_per_rpc() -> None:
    assert pb.DESCRIPTOR.package == "bhytgate.v1"
    methods = {s.name: {m.name for m in s.methods} for s in pb.DESCRIPTOR.services_by_name.values()}
    assert methods == {
        "VerificationService": {"BeginVerification", "Verify", "GetAttestationKeys", "GetCheckinRecord"},
        "CounterService": {
            "EnrollTemplate",
            "LinkSocialInsurance",
            "ReportDocumentLost",
            # issue 15
            "QuoteHouseholdRenewal",
            "RenewHousehold",
            "GetConsentTerms",
            "ExportSubjectData",
            "DeleteFaceTemplate",
            "WithdrawConsent",
        },
        "AdminService": {
            "LoadTrustAnchors",
            "ImportEntitlements",
            "VerifyAuditChain",
            "GetAuditCheckpoint",
            "RegisterTerminalKey",
            "RevokeTerminalCertificate",
            "ReconcileClaims",
        },
        "ReviewService": {"ListReviewCases", "ResolveReviewCase", "GetReviewCase"},
        "RegistrationService": {"RegisterHolder"},
    }
    inputs = []
    for service in pb.DESCRIPTOR.services_by_name.values():
        for m in service.methods:
            assert m.input_type.name == f"{m.name}Request"
            assert m.output_type.name == f"{m.name}Response"
            inputs.append(m.input_type.name)
    assert len(inputs) == len(set(inputs))
    for name in ("VerificationService", "CounterService", "AdminService", "RegistrationService"):
        assert hasattr(pb_grpc, f"{name}Stub") and hasattr(pb_grpc, f"add_{name}Servicer_to_server")


def test_required_reason_codes_exist() -> None:
    names = set(pb.ReasonCode.keys())
    for code in [
        "CHIP_SIGNATURE_INVALID",
        "SIGNER_UNTRUSTED",
        "SIGNER_REVOKED",
        "SIGNER_EXPIRED",
        "DATA_GROUP_HASH_MISMATCH",
        "CHIP_NOT_GENUINE",
        "AA_MISSING",
        "CHALLENGE_UNKNOWN",
        "CHALLENGE_EXPIRED",
        "CHALLENGE_REPLAYED",
        "CHALLENGE_TERMINAL_MISMATCH",
        "DOCUMENT_EXPIRED",
        "DOCUMENT_REPORTED_LOST",
        "NO_FACE",
        "MULTIPLE_FACES",
        "POOR_FACE_QUALITY",
        "FACE_MISMATCH",
        "TEMPLATE_MISMATCH",
        "LIVENESS_FAILED",
        "NO_ENTITLEMENT",
        "CARD_EXPIRED",
        "CARD_REVOKED",
        "FRAUD_VELOCITY",
        "FRAUD_BIOMETRIC_LOCKED",
        "ASSURANCE_TOO_LOW",
    ]:
        assert f"REASON_CODE_{code}" in names


def test_credential_is_a_oneof() -> None:
    req = pb.VerifyRequest(chip=pb.ChipData(ef_sod=b"\x30"))
    assert req.WhichOneof("credential") == "chip"
    req.qr.qr_text = "x"
    assert req.WhichOneof("credential") == "qr" and not req.HasField("chip")
    resp = pb.VerifyResponse()
    assert not resp.HasField("face_distance")
    resp.face_distance = 0.0
    assert resp.HasField("face_distance")


def test_round_trip_bytes() -> None:
    msg = pb.BeginVerificationResponse(
        challenge_id="c1",
        nonce=bytes(32),
        liveness_actions=[pb.LIVENESS_ACTION_BLINK, pb.LIVENESS_ACTION_TURN_LEFT],
        terminal_kind=pb.TERMINAL_KIND_KIOSK,
    )
    msg.expire_time.FromDatetime(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    again = pb.BeginVerificationResponse.FromString(msg.SerializeToString())
    assert again == msg and list(again.liveness_actions) == [3, 1]


def test_entitlement_mapping_covers_every_domain_field() -> None:
    ent = Entitlement(
        card_number="DN4797912345678",
        social_insurance_number="7912345678",
        cccd_number="079099001234",
        full_name="Nguyễn Văn An",
        date_of_birth="15/03/1990",
        sex="Nam",
        address="Quận 1",
        beneficiary_group="DN",
        benefit_code=4,
        province_code="79",
        registered_facility="79014",
        registered_facility_name="BV Quận 1",
        issuing_office="BHXH Quận 1",
        valid_from=dt.date(2025, 1, 1),
        valid_to=None,
        area_code="K1",
        five_year_date=dt.date(2020, 1, 1),
        copay_exempt_from=dt.date(2025, 3, 1),
        old_card_number="DN4797912345670",
        new_card_number="DN4797912345679",
        new_valid_from=dt.date(2026, 1, 1),
        new_valid_to=dt.date(2026, 12, 31),
        new_registered_facility="79015",
        new_registered_facility_name="BV Quận 3",
    )
    check = check_entitlement(ent, dt.date(2025, 6, 1))
    msg = entitlement_to_proto(ent, check)
    assert msg.ma_the == "DN4797912345678" and msg.muc_huong == 4 and msg.doi_tuong == "DN"
    assert msg.gt_the_tu == "01/01/2025" and msg.gt_the_den == "" and msg.ngay_mien_cct == "01/03/2025"
    assert msg.ma_ket_qua == "004" and msg.ghi_chu == check.ghi_chu
    # every string field is filled for this fully populated record
    empty = [f.name for f in msg.DESCRIPTOR.fields if getattr(msg, f.name) in ("", 0)]
    assert empty == ["gt_the_den"]
    # the domain fields that must not leave the gateway are not on the wire
    wire = {f.name for f in pb.Entitlement.DESCRIPTOR.fields}
    assert "cccd_number" not in wire
    assert len(dataclasses.fields(Entitlement)) >= 24

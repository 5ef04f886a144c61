"""The CounterService servicer, composed of mixins: enrolment, linking and lost documents; and those
of issue 15 (household renewal, the holder's data rights). Validate and translate only; failures
map to statuses in `rpc.py` (`_rpc`); the work is in service/counter.py, service/household.py
and service/privacy.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhytgate import ids
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.household.premium import MAX_MEMBERS
from bhytgate.household.validity import StartRule
from bhytgate.service.household import HouseholdResult, MemberLine
from bhytgate.service.model import InvalidRequest
from bhytgate.service.rpc import Ctx, _Base, _choice, _frames, _operator, _rpc, _valid, timestamp
from bhytgate.storage.household import MemberKey

COUNTER = frozenset({"counter"})
START_RULES = {
    StartRule.CONTINUOUS: pb.RENEWAL_START_RULE_CONTINUOUS,
    StartRule.FROM_PAYMENT: pb.RENEWAL_START_RULE_FROM_PAYMENT,
    StartRule.WAITING_PERIOD: pb.RENEWAL_START_RULE_WAITING_PERIOD,
}


def _members(members: Any, violations: list[tuple[str, str]]) -> list[MemberKey]:
    if not 1 <= len(members) <= MAX_MEMBERS:
        violations.append(("members", f"between 1 and {MAX_MEMBERS} members required"))
        return []
    out: list[MemberKey] = []
    for i, m in enumerate(members):
        which = m.WhichOneof("id")
        if which == "cccd_number":
            if _valid(violations, f"members[{i}].cccd_number", ids.cccd, m.cccd_number) is not None:
                out.append(("cccd", m.cccd_number))
        elif which == "social_insurance_number":
            field = f"members[{i}].social_insurance_number"
            if _valid(violations, field, ids.bhxh, m.social_insurance_number) is not None:
                out.append(("bhxh", m.social_insurance_number))
        else:
            violations.append((f"members[{i}]", "one of cccd_number or social_insurance_number is required"))
    if len(set(out)) != len(out):
        violations.append(("members", "a member is named twice"))
    return out


def _months(value: int, violations: list[tuple[str, str]]) -> None:
    if value not in (3, 6, 12):
        violations.append(("months", "must be 3, 6 or 12"))


def _member_proto(line: MemberLine) -> pb.HouseholdMemberQuote:
    kind, number = line.member
    member = (
        pb.HouseholdMember(cccd_number=number)
        if kind == "cccd"
        else pb.HouseholdMember(social_insurance_number=number)
    )
    out = pb.HouseholdMemberQuote(
        member=member,
        order=line.order,
        share_percent=line.share_percent,
        monthly_vnd=line.monthly_vnd,
        amount_vnd=line.amount_vnd,
        card_number=line.card_number,
        current_valid_to=line.current_valid_to.isoformat() if line.current_valid_to else "",
    )
    if line.period is not None:
        out.new_valid_from = line.period.valid_from.isoformat()
        out.new_valid_to = line.period.valid_to.isoformat()
        out.start_rule = START_RULES[line.period.rule]  # type: ignore[assignment]
    return out


class EnrolmentRpcs(_Base):
    """The first CounterService RPCs: face template enrolment, social-insurance linking, lost documents."""

    ROLES = frozenset({"counter"})

    @_rpc
    async def EnrollTemplate(
        self, request: pb.EnrollTemplateRequest, context: Ctx
    ) -> pb.EnrollTemplateResponse:
        caller = self.caller(context, self.ROLES)  # authorisation before any detail
        violations: list[tuple[str, str]] = []
        _valid(violations, "verification_id", ids.verification_id, request.verification_id)
        frames = _frames(request.frames, self.config, violations)
        operator = _operator(request.operator, "operator", violations, required=True)
        # Biometric data is sensitive (Law 91/2025/QH15): no template without explicit consent.
        if not request.HasField("consent") or not request.consent.granted:
            violations.append(
                ("consent.granted", "required: the holder's explicit consent (GetConsentTerms)")
            )
        else:
            _valid(violations, "consent.terms_version", ids.terms_version, request.consent.terms_version)
        if violations:
            raise InvalidRequest(violations)
        template_id = await self.gateway.enroll(
            caller,
            request.verification_id,
            frames,
            timeout=self.timeout(context),
            consent_version=request.consent.terms_version,
            operator=operator.full_name if operator else None,
        )
        return pb.EnrollTemplateResponse(
            template_id=template_id, create_time=timestamp(dt.datetime.now(dt.UTC))
        )

    @_rpc
    async def LinkSocialInsurance(
        self, request: pb.LinkSocialInsuranceRequest, context: Ctx
    ) -> pb.LinkSocialInsuranceResponse:
        caller = self.caller(context, self.ROLES)  # authorisation before any detail
        violations: list[tuple[str, str]] = []
        _valid(violations, "cccd_number", ids.cccd, request.cccd_number)
        _valid(violations, "social_insurance_number", ids.bhxh, request.social_insurance_number)
        _valid(violations, "verification_id", ids.verification_id, request.verification_id)
        _operator(request.operator, "operator", violations, required=True)
        if violations:
            raise InvalidRequest(violations)
        ent = await self.gateway.link(
            caller, request.cccd_number, request.social_insurance_number, request.verification_id
        )
        return pb.LinkSocialInsuranceResponse(
            cccd_number=request.cccd_number,
            social_insurance_number=request.social_insurance_number,
            ma_the=ent.card_number if ent else "",
            link_time=timestamp(dt.datetime.now(dt.UTC)),
        )

    @_rpc
    async def ReportDocumentLost(
        self, request: pb.ReportDocumentLostRequest, context: Ctx
    ) -> pb.ReportDocumentLostResponse:
        caller = self.caller(context, self.ROLES)  # authorisation before any detail
        violations: list[tuple[str, str]] = []
        _valid(violations, "cccd_number", ids.cccd, request.cccd_number)
        if request.document_number:
            _valid(violations, "document_number", ids.document_number, request.document_number)
        reason = _choice(
            violations,
            "reason",
            request.reason,
            {
                pb.LOSS_REASON_LOST: "lost",
                pb.LOSS_REASON_STOLEN: "stolen",
                pb.LOSS_REASON_HOLDER_DECEASED: "deceased",
            },
            pb.LossReason,
        )
        reporter = _operator(request.reporter, "reporter", violations, required=True)
        _valid(violations, "note", ids.free_text, request.note)
        if violations or reason is None or reporter is None:
            raise InvalidRequest(violations)
        report_id = await self.gateway.report_lost(
            caller, request.cccd_number, request.document_number, reason, reporter.full_name
        )
        return pb.ReportDocumentLostResponse(
            report_id=report_id, report_time=timestamp(dt.datetime.now(dt.UTC))
        )


class HouseholdRpcs(_Base):
    @_rpc
    async def QuoteHouseholdRenewal(
        self, request: pb.QuoteHouseholdRenewalRequest, context: Ctx
    ) -> pb.QuoteHouseholdRenewalResponse:
        caller = self.caller(context, COUNTER)  # authorisation before any detail
        violations: list[tuple[str, str]] = []
        members = _members(request.members, violations)
        _months(request.months, violations)
        on = None
        if request.quote_date and _valid(violations, "quote_date", ids.iso_date, request.quote_date):
            on = dt.date.fromisoformat(request.quote_date)
        if violations:
            raise InvalidRequest(violations)
        result = await self.gateway.household.quote(caller, members, request.months, on)
        return pb.QuoteHouseholdRenewalResponse(
            members=[_member_proto(m) for m in result.members],
            total_vnd=result.total_vnd,
            base_salary_vnd=result.base_salary_vnd,
            months=result.months,
            quote_date=result.on.isoformat(),
        )

    @_rpc
    async def RenewHousehold(
        self, request: pb.RenewHouseholdRequest, context: Ctx
    ) -> pb.RenewHouseholdResponse:
        caller = self.caller(context, COUNTER)
        violations: list[tuple[str, str]] = []
        _valid(violations, "payer_verification_id", ids.verification_id, request.payer_verification_id)
        members = _members(request.members, violations)
        _months(request.months, violations)
        _valid(violations, "payment_reference", ids.payment_reference, request.payment_reference)
        operator = _operator(request.operator, "operator", violations, required=True)
        if violations or operator is None:
            raise InvalidRequest(violations)
        result: HouseholdResult = await self.gateway.household.renew(
            caller,
            request.payer_verification_id,
            members,
            request.months,
            request.payment_reference,
            operator.full_name,
        )
        return pb.RenewHouseholdResponse(
            receipt_id=result.receipt_id,
            receipt=result.receipt,
            members=[_member_proto(m) for m in result.members],
            total_vnd=result.total_vnd,
            base_salary_vnd=result.base_salary_vnd,
            months=result.months,
            paid_on=result.on.isoformat(),
            replayed=result.replayed,
        )


def _subject_request(request: Any, violations: list[tuple[str, str]]) -> str:
    """The operator's name, after checking the CCCD, the verification id and the operator."""
    _valid(violations, "cccd_number", ids.cccd, request.cccd_number)
    _valid(violations, "verification_id", ids.verification_id, request.verification_id)
    operator = _operator(request.operator, "operator", violations, required=True)
    if violations or operator is None:
        raise InvalidRequest(violations)
    return operator.full_name


class DataRightsRpcs(_Base):
    @_rpc
    async def GetConsentTerms(
        self, request: pb.GetConsentTermsRequest, context: Ctx
    ) -> pb.GetConsentTermsResponse:
        self.caller(context, COUNTER)
        privacy = self.config.privacy
        days = privacy.retention.face_templates.days if privacy.retention.face_templates else 0
        return pb.GetConsentTermsResponse(
            terms_version=privacy.terms.version,
            purpose=privacy.terms.purpose,
            data_kept=list(privacy.terms.data_kinds),
            retention_days=days,
        )

    @_rpc
    async def ExportSubjectData(
        self, request: pb.ExportSubjectDataRequest, context: Ctx
    ) -> pb.ExportSubjectDataResponse:
        caller = self.caller(context, COUNTER)
        operator = _subject_request(request, [])
        document, rid = await self.gateway.privacy.export(
            caller, request.cccd_number, request.verification_id, operator
        )
        return pb.ExportSubjectDataResponse(
            export_json=document, request_id=rid, export_time=timestamp(dt.datetime.now(dt.UTC))
        )

    @_rpc
    async def DeleteFaceTemplate(
        self, request: pb.DeleteFaceTemplateRequest, context: Ctx
    ) -> pb.DeleteFaceTemplateResponse:
        caller = self.caller(context, COUNTER)
        operator = _subject_request(request, [])
        deleted, rid = await self.gateway.privacy.delete_template(
            caller, request.cccd_number, request.verification_id, operator
        )
        return pb.DeleteFaceTemplateResponse(
            deleted=deleted, request_id=rid, delete_time=timestamp(dt.datetime.now(dt.UTC))
        )

    @_rpc
    async def WithdrawConsent(
        self, request: pb.WithdrawConsentRequest, context: Ctx
    ) -> pb.WithdrawConsentResponse:
        caller = self.caller(context, COUNTER)
        operator = _subject_request(request, [])
        withdrawn, deleted, rid = await self.gateway.privacy.withdraw(
            caller, request.cccd_number, request.verification_id, operator
        )
        return pb.WithdrawConsentResponse(
            consents_withdrawn=withdrawn,
            template_deleted=deleted,
            request_id=rid,
            withdraw_time=timestamp(dt.datetime.now(dt.UTC)),
        )


class CounterServicer(HouseholdRpcs, DataRightsRpcs, EnrolmentRpcs, pb_grpc.CounterServiceServicer):
    """The whole CounterService: the first RPCs (EnrolmentRpcs) and those of issue 15."""

"""The ReviewService servicer: authenticate, validate, call the review queue, translate. Decides nothing."""

from __future__ import annotations

from typing import Any

from bhytgate import ids
from bhytgate.api.convert import entitlement_to_proto
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.policy.model import AssuranceLevel
from bhytgate.service.model import InvalidRequest
from bhytgate.service.review import Resolution
from bhytgate.service.rpc import KIND_TO_PB, LEVELS, Ctx, _Base, _choice, _rpc, _valid, reason_code, timestamp
from bhytgate.storage.review import ReviewCaseRecord

REVIEWER = frozenset({"reviewer"})
# The waiting terminal polls its own case; a reviewer reads any case in its scope.
READERS = frozenset({"reviewer", "hospital-checkin", "counter"})
STATES = {
    "OPEN": pb.REVIEW_STATE_OPEN,
    "ACCEPTED": pb.REVIEW_STATE_ACCEPTED,
    "REJECTED": pb.REVIEW_STATE_REJECTED,
    "EXPIRED": pb.REVIEW_STATE_EXPIRED,
}
MAX_REASON_CHARS = 500
DEFAULT_PAGE = 100


def case_to_proto(case: ReviewCaseRecord, state: str) -> pb.ReviewCase:
    summary = case.summary
    level = summary.get("assurance_level")
    msg = pb.ReviewCase(
        verification_id=case.verification_id,
        facility_code=case.facility,
        terminal_id=case.terminal_id,
        terminal_kind=KIND_TO_PB.get(case.terminal_kind, pb.TERMINAL_KIND_UNSPECIFIED),  # type: ignore[call-overload]
        reasons=[
            pb.Reason(code=reason_code(r["code"]), detail=r["detail"])  # type: ignore[arg-type]
            for r in summary.get("reasons", [])
        ],
        assurance_level=LEVELS.get(AssuranceLevel(level), pb.ASSURANCE_LEVEL_UNSPECIFIED)  # type: ignore[arg-type]
        if level
        else pb.ASSURANCE_LEVEL_UNSPECIFIED,
        fraud_history=[
            pb.FraudFact(name=f["name"], subject=f["subject"], count=int(f["count"]), detail=f["detail"])
            for f in summary.get("fraud", [])
        ],
        state=STATES[state],  # type: ignore[arg-type]
        open_time=timestamp(case.opened_at),
        expire_time=timestamp(case.expires_at),
        reviewer=case.reviewer or "",
        resolution_reason=case.resolution or "",
    )
    if summary.get("face_distance") is not None:
        msg.face_distance = float(summary["face_distance"])
    if summary.get("face_threshold") is not None:
        msg.face_threshold = float(summary["face_threshold"])
    if case.resolved_at is not None:
        msg.resolve_time.CopyFrom(timestamp(case.resolved_at))
    return msg


def _released(res: Resolution, response: Any) -> Any:
    if res.entitlement is not None and res.entitlement_check is not None and res.attestation:
        response.entitlement.CopyFrom(entitlement_to_proto(res.entitlement, res.entitlement_check))
        response.attestation = res.attestation
    return response


class ReviewServicer(_Base, pb_grpc.ReviewServiceServicer):
    @_rpc
    async def ListReviewCases(
        self, request: pb.ListReviewCasesRequest, context: Ctx
    ) -> pb.ListReviewCasesResponse:
        caller = self.caller(context, REVIEWER)
        if not 0 <= request.page_size <= 500:
            raise InvalidRequest([("page_size", "between 0 (default 100) and 500")])
        cases = await self.gateway.reviews.list_open(caller, request.page_size or DEFAULT_PAGE)
        return pb.ListReviewCasesResponse(cases=[case_to_proto(c, "OPEN") for c in cases])

    @_rpc
    async def ResolveReviewCase(
        self, request: pb.ResolveReviewCaseRequest, context: Ctx
    ) -> pb.ResolveReviewCaseResponse:
        caller = self.caller(context, REVIEWER)  # authorisation before any detail
        violations: list[tuple[str, str]] = []
        _valid(violations, "verification_id", ids.verification_id, request.verification_id)
        accept = _choice(
            violations,
            "resolution",
            request.resolution,
            {pb.REVIEW_STATE_ACCEPTED: True, pb.REVIEW_STATE_REJECTED: False},
            pb.ReviewState,
        )
        if not request.reason.strip():
            violations.append(("reason", "required: why the case is accepted or rejected"))
        else:
            _valid(violations, "reason", lambda v: ids.free_text(v, MAX_REASON_CHARS), request.reason)
        if violations or accept is None:
            raise InvalidRequest(violations)
        res = await self.gateway.reviews.resolve(
            caller, request.verification_id, accept=accept, reason=request.reason
        )
        return _released(  # type: ignore[no-any-return]
            res, pb.ResolveReviewCaseResponse(review_case=case_to_proto(res.case, res.state))
        )

    @_rpc
    async def GetReviewCase(self, request: pb.GetReviewCaseRequest, context: Ctx) -> pb.GetReviewCaseResponse:
        caller = self.caller(context, READERS)
        violations: list[tuple[str, str]] = []
        _valid(violations, "verification_id", ids.verification_id, request.verification_id)
        if violations:
            raise InvalidRequest(violations)
        res = await self.gateway.reviews.get(caller, request.verification_id)
        return _released(  # type: ignore[no-any-return]
            res, pb.GetReviewCaseResponse(review_case=case_to_proto(res.case, res.state))
        )

"""RegistrationService on the wire: validate and translate, call the registration flow, translate
back. Nothing here decides; failures map to statuses as in `rpc.py` (its `_rpc` wrapper)."""

from __future__ import annotations

import re
from typing import Any

import grpc

from bhytgate import ids
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.registration.integrity import MAX_TOKEN_CHARS, Verdict
from bhytgate.registration.model import Contact, ContactKind, RegistrationRecord, Status
from bhytgate.registration.service import RegisterInput
from bhytgate.service.model import InvalidRequest
from bhytgate.service.rpc import (
    DECISIONS,
    LEVELS,
    VERIFY_ROLES,
    Ctx,
    _Abort,
    _Base,
    _rpc,
    _valid,
    reason_code,
    timestamp,
)
from bhytgate.service.wire import RequestLimits, _handlers

STATUSES = {
    Status.ACTIVE: pb.REGISTRATION_STATUS_ACTIVE,
    Status.PENDING_REVIEW: pb.REGISTRATION_STATUS_PENDING_REVIEW,
    Status.SUPERSEDED: pb.REGISTRATION_STATUS_SUPERSEDED,
}
VERDICTS = {
    Verdict.NOT_CONFIGURED: pb.INTEGRITY_VERDICT_NOT_CONFIGURED,
    Verdict.VERIFIED: pb.INTEGRITY_VERDICT_VERIFIED,
    Verdict.MISSING: pb.INTEGRITY_VERDICT_MISSING,
    Verdict.FAILED: pb.INTEGRITY_VERDICT_FAILED,
}
SERVICE = "RegistrationService"
# The shape only; everything else about a token is a finding of the check (a REJECTED decision).
COMPACT_JWS_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)


def _contact(request: pb.RegisterHolderRequest, violations: list[tuple[str, str]]) -> Contact | None:
    which = request.WhichOneof("contact")
    if which is None:
        violations.append(("contact", "one of phone_e164 or email is required"))
        return None
    kind = ContactKind.PHONE if which == "phone_e164" else ContactKind.EMAIL
    check = ids.phone_e164 if kind is ContactKind.PHONE else ids.email
    value = _valid(violations, which, check, getattr(request, which))
    return None if value is None else Contact(kind, value)


def _token(token: str, violations: list[tuple[str, str]]) -> str | None:
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        violations.append(("integrity_token", f"at most {MAX_TOKEN_CHARS} characters"))
    elif COMPACT_JWS_RE.fullmatch(token) is None:
        violations.append(("integrity_token", "must be a compact JWS: three base64url parts joined by '.'"))
    return token


def registration_to_proto(record: RegistrationRecord) -> pb.Registration:
    return pb.Registration(
        registration_id=record.registration_id,
        status=STATUSES[record.status],  # type: ignore[arg-type]
        assurance_level=LEVELS[record.strength.level],  # type: ignore[arg-type]
        integrity_verdict=VERDICTS[record.strength.integrity],  # type: ignore[arg-type]
        social_insurance_number=record.bhxh_number,
        create_time=timestamp(record.created_at),
        supersedes_registration_id=record.supersedes or "",
        attestation=record.attestation,
    )


class RegistrationServicer(_Base):
    @_rpc
    async def RegisterHolder(
        self, request: pb.RegisterHolderRequest, context: Ctx
    ) -> pb.RegisterHolderResponse:
        violations: list[tuple[str, str]] = []
        _valid(violations, "verification_id", ids.verification_id, request.verification_id)
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        contact = _contact(request, violations)
        bhxh = None
        if request.social_insurance_number:
            bhxh = _valid(violations, "social_insurance_number", ids.bhxh, request.social_insurance_number)
        token = _token(request.integrity_token, violations)
        if violations or contact is None:
            raise InvalidRequest(violations)
        # In plaintext (local tests) the caller is taken to be a phone; otherwise its certificate says.
        claimed = pb.TERMINAL_KIND_PHONE if self.config.plaintext else 0
        caller = self.caller(context, VERIFY_ROLES, claimed_id=request.terminal_id, claimed_kind=claimed)
        if caller.kind not in self.config.registration.terminal_kinds:
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"remote registration is not offered to {caller.kind.value} terminals",
            )
        result = await self.gateway.registration.register(
            caller, RegisterInput(request.verification_id, contact, bhxh, token)
        )
        response = pb.RegisterHolderResponse(
            decision=DECISIONS[result.outcome],  # type: ignore[arg-type]
            reasons=[pb.Reason(code=reason_code(r.code), detail=r.detail) for r in result.reasons],  # type: ignore[arg-type]
        )
        if result.record is not None:
            response.registration.CopyFrom(registration_to_proto(result.record))
        return response


def add_registration_service(server: Any, servicer: RegistrationServicer, limits: RequestLimits) -> None:
    """Register RegistrationService on `server` with its per-method size limits (as wire.add_services)."""
    full_name = pb.DESCRIPTOR.services_by_name[SERVICE].full_name
    handlers = _handlers(servicer, SERVICE, limits)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(full_name, handlers),))
    server.add_registered_method_handlers(full_name, handlers)

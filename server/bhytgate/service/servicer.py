"""The gRPC servicers: authenticate the caller, validate and translate, call the gateway, translate back.

Nothing here decides anything. Business rejections are normal responses; malformed input is
INVALID_ARGUMENT with field violations; unknown terminals UNAUTHENTICATED; wrong role or a
terminal claiming another identity PERMISSION_DENIED; overload RESOURCE_EXHAUSTED; deadlines are
honoured. Unexpected errors become INTERNAL with a generic message: the caller never sees a trace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp

from bhytgate import ids
from bhytgate.api.convert import entitlement_to_proto
from bhytgate.api.errors import bad_request_status, retry_status
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.face.decode import declared_size
from bhytgate.face.errors import FaceError
from bhytgate.pki.devca import (
    TerminalIdentityError,
    TerminalRole,
    identity_from_certificate,
    peer_certificate,
)
from bhytgate.policy.model import AssuranceLevel, Outcome, ReasonCode, TerminalKind
from bhytgate.policy.retry import MESSAGES as RETRY_MESSAGES
from bhytgate.policy.retry import RetryHint
from bhytgate.service.claims_servicer import (
    CheckinRecordRpc,
    ReconcileClaimsRpc,
    checkin_details,
    checkin_record_proto,
)
from bhytgate.service.config import GatewayConfig
from bhytgate.service.gateway import (
    AlreadyExists,
    Caller,
    FailedPrecondition,
    Gateway,
    InvalidRequest,
    NotFound,
    Operator,
    PermissionDenied,
    RateLimited,
    Unavailable,
    VerifyInput,
    VerifyResult,
)
from bhytgate.service.revocation import MAX_CERTIFICATE_BYTES, RevocationReason, fingerprint
from bhytgate.service.wire import (
    LARGE_REQUEST_BYTES,
    MiB,
    RefusedRequest,
    RequestBudget,
    release_freed_memory,
)
from bhytgate.service.workers import FaceUnavailable, Overloaded
from bhytgate.storage.interface import StoreUnavailable

log = logging.getLogger("bhytgate.servicer")
Ctx = grpc.aio.ServicerContext[Any, Any]
R = TypeVar("R")

KINDS = {
    pb.TERMINAL_KIND_DESK: TerminalKind.DESK,
    pb.TERMINAL_KIND_KIOSK: TerminalKind.KIOSK,
    pb.TERMINAL_KIND_PHONE: TerminalKind.PHONE,
}
KIND_TO_PB = {v: k for k, v in KINDS.items()}
LEVELS = {
    AssuranceLevel.CHIP_AA_FACE_LIVENESS: pb.ASSURANCE_LEVEL_CHIP_AA_FACE_LIVENESS,
    AssuranceLevel.CHIP_FACE: pb.ASSURANCE_LEVEL_CHIP_FACE,
    AssuranceLevel.QR_ENROLLED_FACE: pb.ASSURANCE_LEVEL_QR_ENROLLED_FACE,
    AssuranceLevel.GUARDIAN_VERIFIED: pb.ASSURANCE_LEVEL_GUARDIAN_VERIFIED,
}
DECISIONS = {
    Outcome.ACCEPTED: pb.DECISION_ACCEPTED,
    Outcome.REJECTED: pb.DECISION_REJECTED,
    Outcome.REVIEW: pb.DECISION_REVIEW,
    Outcome.RETRY: pb.DECISION_RETRY,
}
RETRY_HINTS = {
    RetryHint.HOLD_CARD_STILL: pb.RETRY_HINT_HOLD_CARD_STILL,
    RetryHint.FACE_THE_CAMERA: pb.RETRY_HINT_FACE_THE_CAMERA,
    RetryHint.TRY_AGAIN_SHORTLY: pb.RETRY_HINT_TRY_AGAIN_SHORTLY,
}
ACTIONS = {
    "turn_left": pb.LIVENESS_ACTION_TURN_LEFT,
    "turn_right": pb.LIVENESS_ACTION_TURN_RIGHT,
    "blink": pb.LIVENESS_ACTION_BLINK,
}
VERIFY_ROLES = frozenset({"hospital-checkin", "counter"})
Metadata = Sequence[tuple[str, str | bytes]]


def reason_code(code: str) -> int:
    """The wire enum value of a gateway reason (`Reason` admits only `ReasonCode` values, and a
    test proves every one of them exists in the proto)."""
    return int(pb.ReasonCode.Value(ReasonCode(code).wire_name))


def timestamp(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(dt.UTC).replace(tzinfo=None))
    return ts


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _release(exc: BaseException) -> None:
    """Drop the tracebacks of `exc` and of the exceptions it chains (`raise ... from`): their frames
    hold the request and the copies made of it, and must not outlive the call."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def _failure(self: Any, name: str, exc: Exception) -> tuple[grpc.StatusCode, str, Metadata]:
    """The status for a failure of the gateway or of the request."""
    if isinstance(exc, _Abort):
        return exc.code, exc.message, ()
    if isinstance(exc, InvalidRequest):
        status = bad_request_status(exc.violations)
        return status.code, status.details, status.trailing_metadata
    if isinstance(exc, RateLimited):
        # Not overload: backoff within the window cannot help. Say which limit, and when it resets.
        status = retry_status(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), exc.retry_after_s)
        return status.code, status.details, status.trailing_metadata
    if isinstance(exc, Overloaded):
        if self.metrics is not None:
            self.metrics.shed.inc()
        # Which bound refused it (the queue limit, the deadline, the latency or the overload bound),
        # with the predicted and admitted milliseconds: no request data.
        return grpc.StatusCode.RESOURCE_EXHAUSTED, f"gateway at capacity ({exc}); retry with backoff", ()
    if isinstance(exc, FaceUnavailable):
        return grpc.StatusCode.UNAVAILABLE, "face workers restarting; retry", ()
    if isinstance(exc, Unavailable | StoreUnavailable):
        return grpc.StatusCode.UNAVAILABLE, f"{exc}; retry shortly", ()
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline too short for the check", ()
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc), ()
    if isinstance(exc, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc), ()
    if isinstance(exc, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(exc), ()
    if isinstance(exc, PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED, str(exc), ()
    # Type and place only: messages and tracebacks may carry request data.
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else None
    where = frames[-1] if frames else None
    log.error(
        "internal error in %s: %s at %s:%s",
        name,
        type(exc).__name__,
        where.filename if where else "?",
        where.lineno if where else "?",
    )
    return grpc.StatusCode.INTERNAL, "internal error", ()


def _rpc(handler: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Map the gateway's typed failures to gRPC statuses; nothing else escapes to the caller.

    A failed call holds nothing once it ends. gRPC keeps the AbortError of `context.abort` on the
    call state, and its traceback runs through this frame: aborting inside an `except` block
    chained the handler's exception to it, whose traceback held the handler's frame, the request
    and its copies, in a cycle only the garbage collector frees (~2x the request's size per refused
    call). So the status is worked out in the `except` block, the exception's tracebacks dropped,
    the request released, and only then is the call aborted. After a large refused request the
    allocator is asked to return freed pages (wire.release_freed_memory).
    """
    name = handler.__name__

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: Ctx) -> R:
        if isinstance(request, RefusedRequest):  # too big or not parseable (service/wire.py)
            status = bad_request_status([], request.message)
            failure: tuple[grpc.StatusCode, str, Metadata] = (
                status.code,
                status.details,
                status.trailing_metadata,
            )
            size = request.size
        else:
            size = request.ByteSize()
            budget: RequestBudget | None = getattr(self, "requests", None)  # shared by the servicers
            if budget is not None and not budget.take(size):
                # Too many bytes of requests held already: dropped at once, the caller retries.
                status = retry_status(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"gateway busy: {budget.held // MiB} MiB of requests in progress; retry shortly",
                    1.0,
                )
                failure = (status.code, status.details, status.trailing_metadata)
            else:
                try:
                    return await handler(self, request, context)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failure = _failure(self, name, exc)
                    _release(exc)
                finally:
                    if budget is not None:
                        budget.give(size)
        del request
        if size >= LARGE_REQUEST_BYTES:
            release_freed_memory()
        # Outside the except blocks: the AbortError chains no exception, and this frame no longer
        # holds the request. (Not set_code and return: that sends headers and an empty message
        # before the status, and a client can then not retry a shed call.)
        await context.abort(*failure)
        raise AssertionError("context.abort returned")  # abort always raises

    return wrapper


class _Base:
    def __init__(
        self,
        gateway: Gateway,
        config: GatewayConfig,
        metrics: Any | None = None,
        *,
        requests: RequestBudget | None = None,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.metrics = metrics
        # Shared by every servicer of one server: the bytes of the requests held at once.
        self.requests = requests

    def caller(
        self, context: Ctx, roles: frozenset[str], *, claimed_id: str = "", claimed_kind: int = 0
    ) -> Caller:
        if self.config.plaintext:
            # Explicit local-test mode (loopback only): no certificates, so the request's own claims
            # are taken; roles are not enforced, and facility scopes neither (the national role).
            kind = KINDS.get(claimed_kind, TerminalKind.DESK)  # type: ignore[call-overload]
            return Caller(claimed_id or "plaintext-terminal", "00000", "auditor", kind)
        try:
            cert = peer_certificate(context.auth_context())
            identity = identity_from_certificate(cert)
        except TerminalIdentityError as exc:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, f"terminal certificate not usable: {exc}") from exc
        if self.gateway.revoked.is_revoked(fingerprint(cert)):
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "terminal certificate revoked")
        if identity.role.value not in roles:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED, f"role {identity.role.value} may not call this")
        if claimed_id and claimed_id != identity.terminal_id:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED, "terminal_id differs from the client certificate")
        if claimed_kind and KINDS.get(claimed_kind) != identity.kind:  # type: ignore[call-overload]
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED, "terminal_kind differs from the client certificate"
            )
        return Caller(
            identity.terminal_id, identity.facility, identity.role.value, TerminalKind(identity.kind)
        )

    @staticmethod
    def timeout(context: Ctx) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else max(0.0, remaining)


def _valid(
    violations: list[tuple[str, str]], field: str, check: Callable[[str], str], value: str
) -> str | None:
    """`check(value)` (a bhytgate.ids validator), or None with a violation naming `field`."""
    try:
        return check(value)
    except ValueError as exc:
        violations.append((field, str(exc)))
        return None


def _operator(
    msg: pb.Operator, field: str, violations: list[tuple[str, str]], *, required: bool
) -> Operator | None:
    if not msg.full_name and not msg.cccd_number:
        if required:
            violations.append((field, "required"))
        return None
    name = _valid(violations, f"{field}.full_name", ids.person_name, msg.full_name)
    cccd = _valid(violations, f"{field}.cccd_number", ids.cccd, msg.cccd_number)
    if name is None or cccd is None:
        return None
    return Operator(name, cccd)


def _frames(frames: Any, config: GatewayConfig, violations: list[tuple[str, str]]) -> list[tuple[bytes, int]]:
    if not 1 <= len(frames) <= config.max_frames:
        violations.append(("frames", f"between 1 and {config.max_frames} frames required"))
        if len(frames) > config.max_frames:
            return []  # refused as a whole: no frame of it is read
    out = []
    for i, frame in enumerate(frames):
        image = frame.image  # one copy: every access to a bytes field makes another
        if not image:
            violations.append((f"frames[{i}].image", "empty"))
            image = b""
        elif len(image) > config.max_frame_bytes:
            violations.append((f"frames[{i}].image", f"over {config.max_frame_bytes} bytes"))
            image = b""  # refused: keep no copy
        else:
            # The container (magic bytes) and the size its header declares are checked here, before
            # the challenge is spent, without a decoder; a frame that passes but does not decode is
            # a REJECTED check (see the proto).
            try:
                size = declared_size(image)
            except FaceError:
                violations.append((f"frames[{i}].image", "not a JPEG, PNG or JPEG 2000 image"))
                image = b""
            else:
                budget = config.face.max_frame_pixels
                if size is not None and size[0] * size[1] > budget:
                    violations.append(
                        (
                            f"frames[{i}].image",
                            f"declares {size[0]}x{size[1]} pixels, over the live-frame budget of"
                            f" {budget} pixels",
                        )
                    )
                    image = b""
        if frame.timestamp_ms <= 0:
            violations.append((f"frames[{i}].timestamp_ms", "must be positive (ms since the Unix epoch)"))
        out.append((image, int(frame.timestamp_ms)))
    return out


class VerificationServicer(_Base, CheckinRecordRpc, pb_grpc.VerificationServiceServicer):
    def __init__(
        self,
        gateway: Gateway,
        config: GatewayConfig,
        metrics: Any | None = None,
        *,
        requests: RequestBudget | None = None,
    ) -> None:
        super().__init__(gateway, config, metrics, requests=requests)
        self._plaintext_kinds: dict[str, int] = {}

    @_rpc
    async def BeginVerification(
        self, request: pb.BeginVerificationRequest, context: Ctx
    ) -> pb.BeginVerificationResponse:
        violations: list[tuple[str, str]] = []
        if request.terminal_kind not in KINDS:
            violations.append(("terminal_kind", "required"))
        if request.purpose not in pb.Purpose.values():  # a value this contract does not define
            violations.append(("purpose", "unknown value (PURPOSE_CHECK_IN or PURPOSE_COUNTER_SERVICE)"))
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        if request.facility_code:
            _valid(violations, "facility_code", ids.facility_code, request.facility_code)
        _operator(request.operator, "operator", violations, required=False)
        if violations:
            raise InvalidRequest(violations)
        caller = self.caller(
            context, VERIFY_ROLES, claimed_id=request.terminal_id, claimed_kind=request.terminal_kind
        )
        result = await self.gateway.begin(caller)
        if self.config.plaintext:
            self._plaintext_kinds[result.challenge_id] = request.terminal_kind
            while len(self._plaintext_kinds) > 10_000:
                self._plaintext_kinds.pop(next(iter(self._plaintext_kinds)))
        return pb.BeginVerificationResponse(
            challenge_id=result.challenge_id,
            nonce=result.nonce,
            aa_challenge=result.aa_challenge,
            liveness_actions=[ACTIONS[a] for a in result.actions],
            expire_time=timestamp(result.expire_time),
            terminal_kind=KIND_TO_PB[result.kind],
            required_assurance_level=LEVELS[result.required_level],
        )

    @_rpc
    async def Verify(self, request: pb.VerifyRequest, context: Ctx) -> pb.VerifyResponse:
        cfg = self.config
        violations: list[tuple[str, str]] = []
        _valid(violations, "challenge_id", ids.challenge_id, request.challenge_id)
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        credential = request.WhichOneof("credential")
        chip_files: dict[str, bytes] | None = None
        qr: tuple[str, str] | None = None
        if credential is None:
            violations.append(("credential", "one of chip or qr is required"))
        elif credential == "chip":
            chip_files = {}
            for field, name, required in (
                ("ef_sod", "EF.SOD", True),
                ("dg1", "DG1", True),
                ("dg2", "DG2", False),  # none on cards of children under 6: NO_CHIP_PORTRAIT
                ("dg13", "DG13", True),
                ("dg14", "DG14", False),
                ("dg15", "DG15", False),
            ):
                data = getattr(request.chip, field)
                if not data:
                    if required:
                        violations.append((f"chip.{field}", "required"))
                    continue
                if len(data) > cfg.max_chip_file_bytes:
                    violations.append((f"chip.{field}", f"over {cfg.max_chip_file_bytes} bytes"))
                    continue  # refused: keep no copy
                chip_files[name] = data
        else:
            kind = {pb.QR_KIND_CCCD_QR: "cccd", pb.QR_KIND_BHYT_QR: "bhyt"}.get(request.qr.qr_kind)
            if kind is None:
                violations.append(("qr.qr_kind", "required"))
            _valid(violations, "qr.qr_text", ids.qr_text, request.qr.qr_text)
            qr = (kind or "", request.qr.qr_text)
        signatures = None
        if request.HasField("active_auth"):
            signatures = [bytes(s) for s in request.active_auth.signatures]
            if len(signatures) != 4:
                violations.append(("active_auth.signatures", "exactly four signatures, one per 8-byte chunk"))
            if any(not s or len(s) > 1024 for s in signatures):
                violations.append(("active_auth.signatures", "each must be 1-1024 bytes"))
        guardian = None
        if request.guardian_verification_id:
            guardian = _valid(
                violations, "guardian_verification_id", ids.verification_id, request.guardian_verification_id
            )
        # A guardian-verified child may come without frames (nothing is compared with them).
        frames = _frames(request.frames, cfg, violations) if request.frames or guardian is None else []
        terminal_signature = None
        if request.HasField("terminal_signature"):
            sig = request.terminal_signature
            if not sig.signature or len(sig.signature) > 1024:
                violations.append(("terminal_signature.signature", "required, 1-1024 bytes"))
            _valid(violations, "terminal_signature.key_id", ids.key_id, sig.key_id)
            terminal_signature = (bytes(sig.signature), sig.key_id)
        # Malformed input is refused before anything else is looked at (the caller's identity
        # included): a claimed terminal_id with a trailing newline is INVALID_ARGUMENT, not a
        # PERMISSION_DENIED that depends on the certificate.
        operator = _operator(request.operator, "operator", violations, required=False)
        checkin = checkin_details(request.checkin, violations)
        if violations:
            raise InvalidRequest(violations)
        # In plaintext mode the kind is the one the terminal claimed when it took the challenge.
        # Read, not removed, until the check ran: a call shed by admission may be sent again.
        claimed = self._plaintext_kinds.get(request.challenge_id, 0) if self.config.plaintext else 0
        caller = self.caller(context, VERIFY_ROLES, claimed_id=request.terminal_id, claimed_kind=claimed)
        if operator is None and caller.kind is TerminalKind.DESK:
            raise InvalidRequest([("operator", "required")])
        result = await self.gateway.verify(
            caller,
            VerifyInput(
                challenge_id=request.challenge_id,
                frames=frames,
                chip_files=chip_files,
                qr=qr,
                aa_signatures=signatures,
                terminal_signature=terminal_signature,
                operator=operator,
                guardian=guardian,
                checkin=checkin,
            ),
            timeout=self.timeout(context),
        )
        self._plaintext_kinds.pop(request.challenge_id, None)
        return verify_response(result)

    @_rpc
    async def GetAttestationKeys(
        self, request: pb.GetAttestationKeysRequest, context: Ctx
    ) -> pb.GetAttestationKeysResponse:
        self.caller(context, ANY_ROLE)  # public keys, but not for a revoked certificate
        return pb.GetAttestationKeysResponse(jwks_json=self.gateway.jwks())

    @_rpc
    async def GetCheckinRecord(
        self, request: pb.GetCheckinRecordRequest, context: Ctx
    ) -> pb.GetCheckinRecordResponse:
        return await self._get_checkin_record(request, context, VERIFY_ROLES)


def verify_response(result: VerifyResult) -> pb.VerifyResponse:
    response = pb.VerifyResponse(
        verification_id=result.verification_id,
        decision=DECISIONS[result.outcome],
        reasons=[pb.Reason(code=reason_code(r.code), detail=r.detail) for r in result.reasons],  # type: ignore[arg-type]
        assurance_level=LEVELS.get(result.assurance_level, pb.ASSURANCE_LEVEL_UNSPECIFIED)  # type: ignore[arg-type]
        if result.assurance_level
        else pb.ASSURANCE_LEVEL_UNSPECIFIED,
        stage_timings=[pb.StageTiming(stage=s, millis=m) for s, m in result.timings],
        checks=[
            pb.CheckOutcome(check=f"CHECK_{name}", status=f"CHECK_STATUS_{status}")
            for name, status in result.checks.items()
        ],
        verify_time=timestamp(result.verify_time),
    )
    if result.face_distance is not None:
        response.face_distance = result.face_distance
    if result.face_threshold is not None:
        response.face_threshold = result.face_threshold
    if result.outcome is Outcome.RETRY and result.retry_hint is not None:
        hint = RetryHint(result.retry_hint)
        response.retry_hint = RETRY_HINTS[hint]  # type: ignore[assignment]
        response.retry_message = RETRY_MESSAGES[hint]
    if result.outcome is Outcome.REVIEW and result.review_expires is not None:
        response.review_expire_time.CopyFrom(timestamp(result.review_expires))
    if (
        result.outcome is Outcome.ACCEPTED
        and result.entitlement is not None
        and result.entitlement_check is not None
    ):
        response.entitlement.CopyFrom(entitlement_to_proto(result.entitlement, result.entitlement_check))
        response.attestation = result.attestation or ""
        if result.checkin is not None:
            response.checkin_record.CopyFrom(checkin_record_proto(result.checkin))
    return response


class CounterServicer(_Base, pb_grpc.CounterServiceServicer):
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
        reason = {
            pb.LOSS_REASON_LOST: "lost",
            pb.LOSS_REASON_STOLEN: "stolen",
            pb.LOSS_REASON_HOLDER_DECEASED: "deceased",
        }.get(request.reason)
        if reason is None:
            violations.append(("reason", "required"))
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


class AdminServicer(_Base, ReconcileClaimsRpc, pb_grpc.AdminServiceServicer):
    ROLES = frozenset({"admin"})

    @_rpc
    async def LoadTrustAnchors(
        self, request: pb.LoadTrustAnchorsRequest, context: Ctx
    ) -> pb.LoadTrustAnchorsResponse:
        caller = self.caller(context, self.ROLES)
        added, crls, total = await self.gateway.load_trust(
            caller,
            list(request.csca_certificates),
            list(request.master_lists),
            list(request.crls),
            list(request.document_signers),
        )
        return pb.LoadTrustAnchorsResponse(csca_added=added, crls_added=crls, csca_total=total)

    @_rpc
    async def ImportEntitlements(
        self, request: pb.ImportEntitlementsRequest, context: Ctx
    ) -> pb.ImportEntitlementsResponse:
        caller = self.caller(context, self.ROLES)
        fmt = {pb.IMPORT_FORMAT_CSV: "csv", pb.IMPORT_FORMAT_JSONL: "jsonl"}.get(request.format)
        if fmt is None:
            raise InvalidRequest([("format", "required")])
        imported, valid, errors = await self.gateway.import_entitlements(
            caller, request.content, fmt, dry_run=request.dry_run
        )
        limit = 1000
        return pb.ImportEntitlementsResponse(
            imported_count=imported,
            valid_count=valid,
            errors=[pb.RowError(row=e.row, field=e.field, message=e.message) for e in errors[:limit]],
            errors_truncated=len(errors) > limit,
        )

    @_rpc
    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: Ctx
    ) -> pb.VerifyAuditChainResponse:
        self.caller(context, self.ROLES)
        if len(request.checkpoints) > MAX_CHECKPOINTS:
            raise InvalidRequest([("checkpoints", f"at most {MAX_CHECKPOINTS}")])
        ok, count, broken, detail = await self.gateway.verify_audit(list(request.checkpoints))
        response = pb.VerifyAuditChainResponse(ok=ok, record_count=count, detail="" if ok else detail)
        if broken is not None:
            response.first_broken_record = broken
        return response

    @_rpc
    async def GetAuditCheckpoint(
        self, request: pb.GetAuditCheckpointRequest, context: Ctx
    ) -> pb.GetAuditCheckpointResponse:
        # The fund's auditor is who keeps checkpoints outside the facility's database.
        self.caller(context, self.ROLES | {"auditor"})
        token, checkpoint = await self.gateway.audit_checkpoint()
        return pb.GetAuditCheckpointResponse(
            checkpoint=token,
            record_count=checkpoint.size,
            head_hash=checkpoint.head,
            checkpoint_time=timestamp(checkpoint.issued_at),
        )

    @_rpc
    async def RegisterTerminalKey(
        self, request: pb.RegisterTerminalKeyRequest, context: Ctx
    ) -> pb.RegisterTerminalKeyResponse:
        caller = self.caller(context, self.ROLES)
        violations: list[tuple[str, str]] = []
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        if not 1 <= len(request.public_key) <= 4096:
            violations.append(("public_key", "required, at most 4096 bytes"))
        if violations:
            raise InvalidRequest(violations)
        await self.gateway.register_terminal_key(caller, request.terminal_id, bytes(request.public_key))
        return pb.RegisterTerminalKeyResponse(register_time=timestamp(dt.datetime.now(dt.UTC)))

    @_rpc
    async def RevokeTerminalCertificate(
        self, request: pb.RevokeTerminalCertificateRequest, context: Ctx
    ) -> pb.RevokeTerminalCertificateResponse:
        caller = self.caller(context, self.ROLES)
        violations: list[tuple[str, str]] = []
        reason = _REVOCATION_REASONS.get(request.reason)
        if reason is None:
            violations.append(("reason", "required: one of RevocationReason other than UNSPECIFIED"))
        if not 1 <= len(request.certificate) <= MAX_CERTIFICATE_BYTES:
            violations.append(("certificate", f"required, at most {MAX_CERTIFICATE_BYTES} bytes"))
        if violations or reason is None:
            raise InvalidRequest(violations)
        kept, added = await self.gateway.revoke_certificate(caller, bytes(request.certificate), reason)
        return pb.RevokeTerminalCertificateResponse(
            certificate_sha256=kept.sha256,
            terminal_id=kept.terminal_id,
            revoke_time=timestamp(kept.revoked_at),
            already_revoked=not added,
            reason=_REVOCATION_REASON_CODES[RevocationReason(kept.reason)],
        )


MAX_CHECKPOINTS = 1000
ANY_ROLE = frozenset(role.value for role in TerminalRole)

_REVOCATION_REASON_CODES = {
    RevocationReason.KEY_COMPROMISE: pb.REVOCATION_REASON_KEY_COMPROMISE,
    RevocationReason.DEVICE_LOST: pb.REVOCATION_REASON_DEVICE_LOST,
    RevocationReason.SUPERSEDED: pb.REVOCATION_REASON_SUPERSEDED,
    RevocationReason.CESSATION_OF_OPERATION: pb.REVOCATION_REASON_CESSATION_OF_OPERATION,
}
_REVOCATION_REASONS = {code: reason for reason, code in _REVOCATION_REASON_CODES.items()}

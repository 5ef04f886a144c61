"""The plumbing every gRPC servicer shares: the caller's identity, input validation helpers, the
wire's enum tables, and `_rpc`, which maps the gateway's failures to gRPC statuses.

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp

from bhytgate import ids
from bhytgate.api.errors import bad_request_status, retry_status
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.face.decode import declared_size
from bhytgate.face.errors import FaceError
from bhytgate.pki.devca import TerminalIdentityError, identity_from_certificate, peer_certificate
from bhytgate.policy.model import AssuranceLevel, Outcome, ReasonCode, TerminalKind
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
)
from bhytgate.service.model import Busy
from bhytgate.service.revocation import fingerprint
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
T = TypeVar("T")

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
    if isinstance(exc, Busy):
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


def _choice(
    violations: list[tuple[str, str]],
    field: str,
    value: int,
    accepted: Mapping[Any, T],
    enum: Any,
) -> T | None:
    """The domain value of an enum field, or None with a violation: "required" when the field was
    left at its UNSPECIFIED zero, "unknown value N" (with the accepted names) when it carries a
    number the caller's contract does not define or this call does not take."""
    if value in accepted:
        return accepted[value]
    names = ", ".join(enum.Name(k) for k in accepted)
    if value == 0:
        violations.append((field, f"required: one of {names}"))
    else:
        violations.append((field, f"unknown value {value}: one of {names}"))
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

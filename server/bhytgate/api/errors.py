"""INVALID_ARGUMENT with google.rpc.BadRequest field violations, as the contract promises.

Server side builds the rich status (grpcio-status puts it in `grpc-status-details-bin`); client
side reads the violations back from any RpcError, sync or aio. Descriptions must name the field
and the rule, never echo the value (it may be personal data).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, NoReturn

import grpc
import grpc.aio
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

DETAILS_KEY = "grpc-status-details-bin"


class FieldViolation(NamedTuple):
    field: str  # dotted path in the request, e.g. "chip.ef_sod", "frames[2].image"
    description: str


def bad_request_status(
    violations: Sequence[FieldViolation | tuple[str, str]], message: str = "invalid request"
) -> grpc.Status:
    """A grpc.Status (INVALID_ARGUMENT) carrying a BadRequest with one violation per field."""
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in violations
        ]
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    status.details.add().Pack(bad)
    result: grpc.Status = rpc_status.to_status(status)
    return result


def retry_status(code: grpc.StatusCode, message: str, retry_after_s: float) -> grpc.Status:
    """A grpc.Status carrying a google.rpc.RetryInfo: when retrying can succeed (a rate limit's reset)."""
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromMilliseconds(max(0, math.ceil(retry_after_s * 1000)))
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.add().Pack(info)
    result: grpc.Status = rpc_status.to_status(status)
    return result


def retry_after(error: grpc.RpcError) -> float | None:
    """The RetryInfo delay in an RpcError's status details, in seconds; None if there is none."""
    trailing = getattr(error, "trailing_metadata", None)
    raw = _details(trailing() if callable(trailing) else None)
    if raw is None:
        return None
    for detail in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToMilliseconds()) / 1000
    return None


async def abort_invalid_argument(
    context: grpc.aio.ServicerContext[Any, Any],
    violations: Sequence[FieldViolation | tuple[str, str]],
    message: str = "invalid request",
) -> NoReturn:
    """End the RPC with INVALID_ARGUMENT and the violations (grpc.aio servicers)."""
    status = bad_request_status(violations, message)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # abort always raises


def _details(metadata: Iterable[tuple[str, str | bytes]] | None) -> bytes | None:
    for key, value in metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def field_violations(error: grpc.RpcError) -> list[FieldViolation]:
    """The BadRequest violations in an RpcError's status details; [] if there are none."""
    trailing = getattr(error, "trailing_metadata", None)
    raw = _details(trailing() if callable(trailing) else None)
    if raw is None:
        return []
    status = status_pb2.Status.FromString(raw)
    found: list[FieldViolation] = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return found

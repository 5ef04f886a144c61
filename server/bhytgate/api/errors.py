"""INVALID_ARGUMENT with google.rpc.BadRequest field violations, as the contract promises.

Server side builds the rich status (grpcio-status puts it in `grpc-status-details-bin`); client
side reads the violations back from any RpcError, sync or aio: those readers are the client SDK's
(`bhytgate_client.status`, which needs no googleapis-common-protos), re-exported here. Descriptions
must name the field and the rule, never echo the value (it may be personal data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NoReturn

import grpc
import grpc.aio
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from bhytgate_client.status import DETAILS_KEY as DETAILS_KEY
from bhytgate_client.status import FieldViolation as FieldViolation
from bhytgate_client.status import field_violations as field_violations
from bhytgate_client.status import retry_after as retry_after

# The status details travel as one trailer, and gRPC clients refuse trailers over 16 KiB by default
# (over 8 KiB with a rising probability): the call then fails RESOURCE_EXHAUSTED "received metadata
# size exceeds hard limit", which the SDK takes for a shed Verify. A request with hundreds of bad
# repeated items (EnrollTemplate with 400 one-byte frames) produced that (attack run, 2026-12-02).
MAX_VIOLATIONS = 16
MAX_DESCRIPTION = 300  # characters; a parser's message may quote a long number


def bad_request_status(
    violations: Sequence[FieldViolation | tuple[str, str]], message: str = "invalid request"
) -> grpc.Status:
    """A grpc.Status (INVALID_ARGUMENT) carrying a BadRequest with one violation per field: the
    first MAX_VIOLATIONS, the message saying how many there were when that is fewer."""
    listed = list(violations)
    if len(listed) > MAX_VIOLATIONS:
        message = f"{message} ({MAX_VIOLATIONS} of {len(listed)} field violations listed)"
        listed = listed[:MAX_VIOLATIONS]
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=field[:MAX_DESCRIPTION],
                description=description
                if len(description) <= MAX_DESCRIPTION
                else description[: MAX_DESCRIPTION - 1] + "…",
            )
            for field, description in listed
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


async def abort_invalid_argument(
    context: grpc.aio.ServicerContext[Any, Any],
    violations: Sequence[FieldViolation | tuple[str, str]],
    message: str = "invalid request",
) -> NoReturn:
    """End the RPC with INVALID_ARGUMENT and the violations (grpc.aio servicers)."""
    status = bad_request_status(violations, message)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # abort always raises

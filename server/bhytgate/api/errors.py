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


async def abort_invalid_argument(
    context: grpc.aio.ServicerContext[Any, Any],
    violations: Sequence[FieldViolation | tuple[str, str]],
    message: str = "invalid request",
) -> NoReturn:
    """End the RPC with INVALID_ARGUMENT and the violations (grpc.aio servicers)."""
    status = bad_request_status(violations, message)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # abort always raises

"""The one exception of the SDK: an RPC that failed, with its gRPC code and error details."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from bhytgate_client.status import FieldViolation, status_details


class GatewayError(Exception):
    """An RPC failed: `code` is the gRPC status name, `violations` the BadRequest field errors,
    `retry_after` the RetryInfo delay in seconds where the gateway says when to try again."""

    def __init__(
        self,
        code: str,
        message: str,
        violations: Sequence[tuple[str, str]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.violations: list[FieldViolation] = [FieldViolation(*v) for v in violations or ()]
        self.retry_after = retry_after

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> GatewayError:
        code_of = getattr(error, "code", None)
        status_code = code_of() if callable(code_of) else None
        details_of = getattr(error, "details", None)
        message = details_of() if callable(details_of) else str(error)
        if not isinstance(status_code, grpc.StatusCode):
            status_code = None
        code = status_code.name if status_code is not None else "UNKNOWN"
        # The details count only when they belong to this status (as grpcio-status's from_call checks).
        status = status_details(error)
        if status is None or status_code is None or status.code != status_code.value[0]:
            return cls(code, message or "")
        return cls(code, message or "", status.field_violations(), status.retry_after())

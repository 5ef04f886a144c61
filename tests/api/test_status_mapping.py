"""How the servicer's `_rpc` wrapper turns failures into gRPC statuses (no server needed)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from bhytgate.api.errors import DETAILS_KEY, field_violations, retry_after
from bhytgate.service.gateway import InvalidRequest
from bhytgate.service.rpc import _rpc
from bhytgate.service.wire import RefusedRequest
from bhytgate.service.workers import FaceUnavailable, Overloaded, RateLimited


class Aborted(Exception):
    pass


class Context:
    """What `_rpc` uses of grpc.aio.ServicerContext: abort, which records the status and raises
    (grpc's own keeps that exception on the call state)."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.trailing: tuple[tuple[str, Any], ...] = ()
        self.aborted: Aborted | None = None

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        self.code, self.details, self.trailing = code, details, tuple(trailing_metadata)
        self.aborted = Aborted()
        raise self.aborted


class Error(grpc.RpcError):
    """What a client sees, for the decoders in bhytgate.api.errors."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self.ctx.trailing


class Servicer:
    metrics = None

    def __init__(self, exc: BaseException | None = None) -> None:
        self.exc = exc

    @_rpc
    async def Method(self, request: Any, context: Any) -> str:
        if self.exc is not None:
            raise self.exc
        return "ok"


class Request:
    def ByteSize(self) -> int:
        return 10


def run(exc: BaseException | None, request: Any = None) -> tuple[Any, Context]:
    ctx = Context()
    try:
        result = asyncio.run(Servicer(exc).Method(request if request is not None else Request(), ctx))
    except Aborted:
        result = None
    return result, ctx


def test_rate_limit_names_the_limit_and_when_it_resets() -> None:
    result, ctx = run(RateLimited(60, 22.3))
    assert result is None and ctx.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ctx.details == "BeginVerification limit of 60 a minute for this terminal reached; resets in 23 s"
    assert "capacity" not in ctx.details
    assert retry_after(Error(ctx)) == pytest.approx(22.3)
    raw = dict(ctx.trailing)[DETAILS_KEY]
    info = error_details_pb2.RetryInfo()
    assert status_pb2.Status.FromString(raw).details[0].Unpack(info)


def test_overload_and_worker_restarts() -> None:
    _, ctx = run(Overloaded())
    assert ctx.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry with backoff" in ctx.details
    assert retry_after(Error(ctx)) is None
    _, ctx = run(FaceUnavailable("worker died"))
    assert ctx.code == grpc.StatusCode.UNAVAILABLE and ctx.details == "face workers restarting; retry"


def test_invalid_and_refused_requests() -> None:
    _, ctx = run(InvalidRequest([("cccd_number", "must be 12 digits 0-9")]))
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(Error(ctx)) == [("cccd_number", "must be 12 digits 0-9")]
    refused = RefusedRequest("Verify", "request body is not a valid VerifyRequest", 12)
    result, ctx = run(None, refused)
    assert result is None and ctx.code == grpc.StatusCode.INVALID_ARGUMENT
    assert ctx.details == "request body is not a valid VerifyRequest"


def test_unexpected_errors_are_internal_without_detail(caplog: pytest.LogCaptureFixture) -> None:
    _, ctx = run(KeyError("079099001234"))
    assert ctx.code == grpc.StatusCode.INTERNAL and ctx.details == "internal error"
    assert "079099001234" not in caplog.text and "KeyError" in caplog.text
    assert not any(r.exc_info for r in caplog.records)


def test_a_failed_call_keeps_no_reference_to_its_request() -> None:
    class Big(Request):
        pass

    gc.disable()
    try:
        request = Big()
        ref = weakref.ref(request)
        try:
            raise ValueError("inner")
        except ValueError as inner:
            chained = InvalidRequest([("frames[0].image", "over 4194304 bytes")])
            chained.__cause__ = inner
        ctx = Context()
        with pytest.raises(Aborted):
            asyncio.run(Servicer(chained).Method(request, ctx))
        del request
        assert ctx.aborted is not None and ctx.aborted.__context__ is None  # kept, like grpc does
        assert chained.__traceback__ is None
        assert chained.__cause__ is not None and chained.__cause__.__traceback__ is None
        assert ref() is None  # freed by reference counting, no collection needed
    finally:
        gc.enable()

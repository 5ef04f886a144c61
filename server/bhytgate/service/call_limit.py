"""At most `max_concurrent_rpcs` of the gateway's own calls at once, the health service's not counted.

gRPC's `maximum_concurrent_rpcs` counts every call, the health service's Watch streams too, and every
SDK channel holds one open for as long as it is connected (client-side health checking, see
bhytgate_client.targets): with the limit at 64, 64 connected terminals, idle or not, took every slot,
their own calls were RESOURCE_EXHAUSTED and a 65th terminal could not connect (review, 2026-12-02).

So the bound is this interceptor's. A call of the gateway's services is counted while its handler
runs (the count drops in a `finally`, so a call cancelled or failed gives its slot back); one that
arrives with every slot taken is refused before its request is read: its handler takes the request
as a stream it never reads (the bytes on the wire are the same), and the SDK resends it after the
RetryInfo delay. Calls still receiving their request when a slot is checked are not counted yet, so
a burst may pass the bound by a few; the bytes they hold once read are RequestBudget's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from bhytgate.api.errors import retry_status

# Not the gateway's calls: liveness and discovery must work however busy the gateway is.
EXEMPT = ("/grpc.health.v1.Health/", "/grpc.reflection.")
RETRY_AFTER_S = 1.0


class CallLimit(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic in the stubs only
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_concurrent_rpcs must be at least 1")
        self.limit = limit
        self.active = 0  # the gateway's calls in their handlers (one event loop: no lock)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(EXEMPT):
            return handler
        if self.active >= self.limit:
            return grpc.stream_unary_rpc_method_handler(self._refuse)
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._counted_unary(handler.unary_unary))  # type: ignore[attr-defined, no-any-return]
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=self._counted_stream(handler.stream_stream))  # type: ignore[attr-defined, no-any-return]
        return handler

    async def _refuse(
        self, _requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        status = retry_status(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"gateway busy: {self.active} calls in progress (max_concurrent_rpcs); retry shortly",
            RETRY_AFTER_S,
        )
        await context.abort(status.code, status.details, status.trailing_metadata)

    def _counted_unary(self, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            # This frame must not hold the request: an aborted call's traceback runs through it and
            # gRPC keeps that (rpc._rpc releases the request before aborting).
            call = behavior(request, context)
            del request
            self.active += 1
            try:
                return await call
            finally:
                self.active -= 1

        return counted

    def _counted_stream(self, behavior: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        """`behavior`: an async generator function (the stubs type it as a plain iterator's)."""

        async def counted(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            self.active += 1
            try:
                async for response in behavior(requests, context):
                    yield response
            finally:
                self.active -= 1

        return counted

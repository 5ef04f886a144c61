"""At most `max_concurrent_rpcs` of the gateway's own calls at once, the health service's not counted.

gRPC's `maximum_concurrent_rpcs` counts every call, the health service's Watch streams too, and every
SDK channel holds one open for as long as it is connected (client-side health checking, see
bhytgate_client.targets): with the limit at 64, 64 connected terminals, idle or not, took every slot,
their own calls were RESOURCE_EXHAUSTED and a 65th terminal could not connect (review, 2026-12-02).

So the bound is this interceptor's. It also bounds requests that never finish arriving: gRPC
buffers a unary request until its declared length is in, so a client that declares 50 MiB and
stops held what it had sent for as long as its connection stayed open, any number per certificate
(4 connections held 220 MB, attack run 2026-12-02). A unary method is therefore served as a stream
of one message, read here: the call is counted from its headers on, the message must arrive within
`receive_s` (DEADLINE_EXCEEDED, and gRPC drops what it buffered), at most `receiving_per_peer`
requests of one client certificate may be arriving at once (RESOURCE_EXHAUSTED), and a second
message on a unary method is INVALID_ARGUMENT.

The rest is as follows. A call of the gateway's services is counted while its handler
runs (the count drops in a `finally`, so a call cancelled or failed gives its slot back); one that
arrives with every slot taken is refused before its request is read: its handler takes the request
as a stream it never reads (the bytes on the wire are the same), and the SDK resends it after the
RetryInfo delay. Calls still receiving their request when a slot is checked are not counted yet, so
a burst may pass the bound by a few; the bytes they hold once read are RequestBudget's.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from bhytgate.api.errors import retry_status

# Not the gateway's calls: liveness and discovery must work however busy the gateway is.
EXEMPT = ("/grpc.health.v1.Health/", "/grpc.reflection.")
RETRY_AFTER_S = 1.0


def _peer_key(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The client certificate's digest (no parsing: that is the servicer's), else the address."""
    certs = list(context.auth_context().get("x509_pem_cert") or ())
    if certs:
        return hashlib.sha256(certs[0]).hexdigest()
    return context.peer()


class CallLimit(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic in the stubs only
    def __init__(self, limit: int, *, receive_s: float = 30.0, receiving_per_peer: int = 4) -> None:
        if limit < 1:
            raise ValueError("max_concurrent_rpcs must be at least 1")
        if receiving_per_peer < 1:
            raise ValueError("receiving_per_terminal must be at least 1")
        if not 0 < receive_s <= 3600:
            raise ValueError(f"request_receive_s {receive_s}: seconds, more than 0 and at most 3600")
        self.limit = limit
        self.receive_s = receive_s
        self.receiving_per_peer = receiving_per_peer
        self.active = 0  # the gateway's calls in their handlers (one event loop: no lock)
        self.receiving: collections.Counter[str] = collections.Counter()  # per client certificate

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
            return grpc.stream_unary_rpc_method_handler(
                self._received_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
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

    def _received_unary(
        self, behavior: Callable[..., Awaitable[Any]]
    ) -> Callable[[AsyncIterator[Any], grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def counted(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.active += 1
            try:
                # This frame must not hold the request: an aborted call's traceback runs through
                # it and gRPC keeps that (rpc._rpc releases the request before aborting).
                call = behavior(await self._one_request(requests, context), context)
                return await call
            finally:
                self.active -= 1

        return counted

    async def _one_request(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """The call's one message, within the receive bound and the per-certificate bound."""
        peer = _peer_key(context)
        if self.receiving[peer] >= self.receiving_per_peer:
            status = retry_status(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"at most {self.receiving_per_peer} requests of one terminal arriving at once; "
                "retry when they have arrived",
                RETRY_AFTER_S,
            )
            await context.abort(status.code, status.details, status.trailing_metadata)
        self.receiving[peer] += 1
        failure: tuple[grpc.StatusCode, str] | None = None
        try:
            iterator = aiter(requests)
            try:
                async with asyncio.timeout(self.receive_s):
                    request = await anext(iterator, None)
                    extra = await anext(iterator, None) if request is not None else None
            except TimeoutError:
                request = extra = None
                failure = (
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"request not received within {self.receive_s:g} s; send it again",
                )
            else:
                if request is None:
                    failure = (grpc.StatusCode.INVALID_ARGUMENT, "no request message")
                elif extra is not None:
                    request = extra = None
                    failure = (grpc.StatusCode.INVALID_ARGUMENT, "a unary call carries one request message")
        finally:
            self.receiving[peer] -= 1
            if self.receiving[peer] <= 0:
                del self.receiving[peer]
        if failure is not None:
            await context.abort(*failure)
        return request

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

"""At most `max_concurrent_rpcs` of the gateway's own calls at once, the health service's not counted.

gRPC's `maximum_concurrent_rpcs` counts every call, the health service's Watch streams too, and every
SDK channel holds one open for as long as it is connected (client-side health checking, see
bhytgate_client.targets): with the limit at 64, 64 connected terminals, idle or not, took every slot,
their own calls were RESOURCE_EXHAUSTED and a 65th terminal could not connect (review, 2026-12-02).

So the bound is this interceptor's. It also bounds requests that never finish arriving: gRPC
buffers a unary request until its declared length is in, so a client that declares 50 MiB and
stops held what it had sent for as long as its connection stayed open, any number per certificate
(4 connections held 220 MB, attack run 2026-12-02). A unary method is therefore served as a stream
of one message, read here: the call takes a slot from its headers on; the message must arrive
within `receive_s` plus its method's largest size at `min_rate` (DEADLINE_EXCEEDED, and gRPC drops
what it buffered); one still arriving after GRACE_S counts against its client certificate, which
may have at most `receiving_per_peer` such (RESOURCE_EXHAUSTED); a second message on a unary
method is INVALID_ARGUMENT. Slow requests therefore hold call slots while they arrive: sixteen
certificates with four trickling requests each could hold all 64 for the bound.

A call of the gateway's services is counted while its handler runs (the count drops in a `finally`,
so a call cancelled or failed gives its slot back); one that arrives with every slot taken is
refused before its request is read: its handler takes the request as a stream it never reads (the
bytes on the wire are the same), and the SDK resends it after the RetryInfo delay. The bytes a
request holds once read are RequestBudget's.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import grpc.aio

from bhytgate.api.errors import retry_status
from bhytgate.service.slots import PerKeySlots

# Not the gateway's calls: liveness and discovery must work however busy the gateway is.
EXEMPT = ("/grpc.health.v1.Health/", "/grpc.reflection.")
RETRY_AFTER_S = 1.0
GRACE_S = 1.0  # a request arriving within this is not counted as arriving (an ordinary call)


def _peer_key(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The client certificate's digest (no parsing: that is the servicer's), else the address."""
    certs = list(context.auth_context().get("x509_pem_cert") or ())
    if certs:
        return hashlib.sha256(certs[0]).hexdigest()
    return context.peer()


class CallLimit(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic in the stubs only
    def __init__(
        self,
        limit: int,
        *,
        receive_s: float = 30.0,
        receiving_per_peer: int = 4,
        min_rate: float = 256 * 1024,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("max_concurrent_rpcs must be at least 1")
        if not 0 < receive_s <= 3600:
            raise ValueError(f"request_receive_s {receive_s}: seconds, more than 0 and at most 3600")
        if min_rate <= 0:
            raise ValueError("request_min_rate_bytes_s must be more than 0")
        self.limit = limit
        self.receive_s = receive_s
        self.min_rate = min_rate
        # Largest request per method name: a large one may take longer to arrive (the bound is
        # receive_s plus its size at min_rate: 32 MiB at 256 KiB/s is 128 s more).
        self.sizes = dict(sizes or {})
        self.active = 0  # the gateway's calls in their handlers (one event loop: no lock)
        # Requests still arriving after GRACE_S, per client certificate.
        self.receiving = PerKeySlots(receiving_per_peer, "receiving_per_terminal")

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
            name = handler_call_details.method.rsplit("/", 1)[-1]
            bound = self.receive_s + self.sizes.get(name, 0) / self.min_rate
            return grpc.stream_unary_rpc_method_handler(
                self._received_unary(handler.unary_unary, bound),
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
        self, behavior: Callable[..., Awaitable[Any]], bound: float
    ) -> Callable[[AsyncIterator[Any], grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def counted(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.active += 1
            try:
                # This frame must not hold the request: an aborted call's traceback runs through
                # it and gRPC keeps that (rpc._rpc releases the request before aborting).
                call = behavior(await self._one_request(requests, context, bound), context)
                return await call
            finally:
                self.active -= 1

        return counted

    async def _one_request(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any], bound: float
    ) -> Any:
        """The call's one message, within `bound` seconds, and within the per-certificate bound
        once it has taken longer than GRACE_S to arrive. Counting every call from its headers
        refused ordinary bursts: 8 concurrent small calls on one channel lost 4 (second review,
        2026-12-03), as a message takes at least a loop turn to come back. Two timers rather than
        asyncio.wait: an ordinary call pays for a task and two timer handles only."""
        loop = asyncio.get_running_loop()
        reader = asyncio.ensure_future(_read_one(requests))
        reader.add_done_callback(_retrieved)  # an aborted call's read ends in AbortError: expected
        state = {"peer": "", "why": ""}

        def still_arriving() -> None:
            if reader.done():
                return
            peer = _peer_key(context)
            if not self.receiving.take(peer):
                state["why"] = "peer"
                reader.cancel()
                return
            state["peer"] = peer

        def too_late() -> None:
            if reader.done():
                return
            state["why"] = "deadline"
            reader.cancel()

        grace = loop.call_later(GRACE_S, still_arriving)
        deadline = loop.call_later(bound, too_late)
        try:
            request, extra = await reader
        except asyncio.CancelledError:
            if not state["why"]:
                raise  # the caller's own cancellation
            request = extra = None
        finally:
            grace.cancel()
            deadline.cancel()
            if not reader.done():
                reader.cancel()
            if state["peer"]:
                self.receiving.give(state["peer"])
        if state["why"] == "peer":
            status = retry_status(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"at most {self.receiving.limit} requests of one terminal arriving at once;"
                " retry when they have arrived",
                RETRY_AFTER_S,
            )
            await context.abort(status.code, status.details, status.trailing_metadata)
        if state["why"] == "deadline":
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"request not received within {bound:.0f} s (request_receive_s, and"
                " request_min_rate_bytes_s for large requests); send it again",
            )
        if request is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
        if extra:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a unary call carries one request message")
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


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _read_one(requests: AsyncIterator[Any]) -> tuple[Any, bool]:
    """The first message, and whether another followed it (a unary call carries one)."""
    iterator = aiter(requests)
    request = await anext(iterator, None)
    if request is None:
        return None, False
    return request, await anext(iterator, None) is not None

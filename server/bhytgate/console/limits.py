"""What keeps one certificate holder from tying up the console: a deadline on the TLS handshake,
caps on open connections (per client certificate and in all) and on requests in progress per
certificate. The header deadline itself is aiohttp's idle timeout (`keepalive_timeout`): aiohttp
counts a connection whose request headers are unfinished as idle and closes it when the timeout
runs out, counted from the handshake or from the previous response."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from aiohttp import web

from bhytgate.console.settings import ConsoleLimits

log = logging.getLogger("bhytgate.console")


def peer_fingerprint(transport: asyncio.BaseTransport | None) -> bytes | None:
    """SHA-256 of the TLS client certificate (DER) of this connection, if it has one."""
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest() if der else None


def _refuse(transport: asyncio.Transport, status: str, message: str) -> None:
    """An HTTP answer before any request was read (the client reads it after sending), then close."""
    body = message.encode("utf-8")
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
    )
    transport.write(head.encode("ascii") + body)
    transport.close()


class ConnectionCaps:
    """Open connections, per certificate and in all, across every connection of one site."""

    def __init__(self, limits: ConsoleLimits) -> None:
        self.limits = limits
        self.total = 0
        self.by_cert: Counter[bytes] = Counter()

    def admit(self, cert: bytes | None) -> str | None:
        """None when admitted (and counted), else why not."""
        if self.total >= self.limits.max_connections:
            return f"the console has {self.limits.max_connections} connections open; try again shortly"
        if cert is not None and self.by_cert[cert] >= self.limits.connections_per_officer:
            return (
                f"this certificate already has {self.limits.connections_per_officer} connections open"
                " to the console; close one first"
            )
        self.total += 1
        if cert is not None:
            self.by_cert[cert] += 1
        return None

    def release(self, cert: bytes | None) -> None:
        self.total -= 1
        if cert is not None:
            self.by_cert[cert] -= 1
            if self.by_cert[cert] <= 0:
                del self.by_cert[cert]


class _Gate(asyncio.Protocol):
    """Stands in front of aiohttp's protocol for one connection: counts it once the handshake
    is done (the certificate is known then), or refuses it before aiohttp ever sees it."""

    def __init__(self, inner: asyncio.Protocol, caps: ConnectionCaps) -> None:
        self.inner = inner
        self.caps = caps
        self.cert: bytes | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.cert = peer_fingerprint(transport)
        refusal = self.caps.admit(self.cert)
        if refusal is not None:
            log.info("console connection refused: %s", refusal)
            _refuse(cast(asyncio.Transport, transport), "429 Too Many Requests", refusal)
            return
        self.admitted = True
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.admitted:
            self.admitted = False
            self.caps.release(self.cert)
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()


class GatedSite(web.BaseSite):
    """A TCP+TLS site whose handshakes have a deadline and whose connections pass `ConnectionCaps`."""

    __slots__ = ("_host", "_limits", "_port", "caps")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        limits: ConsoleLimits,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._limits = limits
        self.caps = ConnectionCaps(limits)

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        factory: Callable[[], asyncio.Protocol] = server
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Gate(factory(), self.caps),
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._limits.handshake_s,
            backlog=self._backlog,
        )


class OfficerSlots:
    """Requests in progress per client certificate: past the cap, 429 at once rather than a queue."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy: Counter[bytes] = Counter()

    @contextmanager
    def hold(self, cert: bytes) -> Iterator[None]:
        if self.busy[cert] >= self.limit:
            raise web.HTTPTooManyRequests(
                text=f"this certificate already has {self.limit} requests in progress at the console;"
                " wait for one to finish",
                headers={"Retry-After": "1"},
            )
        self.busy[cert] += 1
        try:
            yield
        finally:
            self.busy[cert] -= 1
            if self.busy[cert] <= 0:
                del self.busy[cert]


def runner_kwargs(limits: ConsoleLimits) -> dict[str, Any]:
    """aiohttp's own bounds: the idle timeout is the header deadline (see the module docstring);
    after an answer to a request whose body was not read (a 408, a 413), the rest of the body is
    drained for at most a second (so the client still reads the answer), not aiohttp's ten."""
    return {"keepalive_timeout": limits.header_s, "lingering_time": 1.0}

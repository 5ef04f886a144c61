"""The console's connection and request bounds, over real TLS with real officer certificates: a
second console on the shared gateway's event loop, with short limits so the deadlines are quick."""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from bhytgate.console.settings import ConsoleLimits
from bhytgate.console.site import ConsoleSite, start_console

from .conftest import Deployment
from .test_console import _context

LIMITS = ConsoleLimits(
    handshake_s=2.0,
    header_s=2.0,
    body_s=4.0,
    connections_per_officer=4,
    requests_per_officer=2,
)


@pytest.fixture(scope="module")
def console(deployment: Deployment) -> Iterator[ConsoleSite]:
    loop = deployment.server.loop
    site = asyncio.run_coroutine_threadsafe(
        start_console(deployment.running.gateway, "127.0.0.1:0", deployment.home / "pki", limits=LIMITS), loop
    ).result(30)
    try:
        yield site
    finally:
        asyncio.run_coroutine_threadsafe(site.stop(), loop).result(30)


def _tls(d: Deployment, site: ConsoleSite, terminal: str) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", site.port), timeout=30)
    return _context(d.home / "pki", terminal).wrap_socket(raw, server_hostname="127.0.0.1")


def _https(d: Deployment, site: ConsoleSite, terminal: str) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", site.port, context=_context(d.home / "pki", terminal), timeout=30
    )


def _get(conn: http.client.HTTPSConnection, path: str = "/?hours=1") -> tuple[int, str]:
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read().decode("utf-8")


def _closed_after(sock: ssl.SSLSocket, trickle: bytes = b"") -> tuple[float, bytes]:
    """Seconds until the server closes `sock` (sending `trickle` a byte at a time meanwhile)."""
    start = time.monotonic()
    got = b""
    sock.settimeout(0.25)
    for byte in trickle:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - start, got
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start, got
        if not data:
            return time.monotonic() - start, got
        got += data
    sock.settimeout(30)
    try:
        while data := sock.recv(4096):
            got += data
    except OSError:
        pass
    return time.monotonic() - start, got


def test_a_connection_that_never_finishes_its_headers_is_closed_while_others_are_served(
    deployment: Deployment, console: ConsoleSite
) -> None:
    slow = _tls(deployment, console, "admin-01")
    slow.sendall(b"GET /?hours=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
    # Another officer is served meanwhile.
    other = _https(deployment, console, "reviewer-01")
    try:
        assert _get(other)[0] == 200
    finally:
        other.close()
    # A header line a byte at a time, every 0.25 s: a deadline, not an idle timer, closes it.
    elapsed, answer = _closed_after(slow, b"X-Slow: " + b"a" * 200)
    slow.close()
    assert answer == b""  # nothing was ever answered: the request never started
    assert LIMITS.header_s - 0.5 <= elapsed <= LIMITS.header_s + 5, elapsed


def test_a_connection_that_never_finishes_the_handshake_is_closed(
    deployment: Deployment, console: ConsoleSite
) -> None:
    raw = socket.create_connection(("127.0.0.1", console.port), timeout=30)
    start = time.monotonic()
    try:
        assert raw.recv(4096) == b""  # no ClientHello ever sent: the server gives up
    except ConnectionResetError:
        pass
    finally:
        raw.close()
    assert time.monotonic() - start <= LIMITS.handshake_s + 5


def _held_post(d: Deployment, site: ConsoleSite, terminal: str) -> ssl.SSLSocket:
    """A form POST whose body never arrives in full: it holds one request slot."""
    sock = _tls(d, site, terminal)
    sock.sendall(
        b"POST /claims HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ncsrf="
    )
    return sock


def test_the_officers_request_past_the_cap_is_429_while_another_officer_is_served(
    deployment: Deployment, console: ConsoleSite
) -> None:
    held = [_held_post(deployment, console, "admin-01") for _ in range(LIMITS.requests_per_officer)]
    try:
        time.sleep(0.3)  # both requests reach the middleware and take their slots
        one_more = _https(deployment, console, "admin-01")
        try:
            status, body = _get(one_more)
        finally:
            one_more.close()
        assert status == 429, body
        assert f"already has {LIMITS.requests_per_officer} requests in progress" in body
        other = _https(deployment, console, "reviewer-01")
        try:
            assert _get(other)[0] == 200
        finally:
            other.close()
        # The held bodies never complete: each is answered 408 after body_s and its slot freed.
        for sock in held:
            elapsed, answer = _closed_after(sock)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
            assert b"did not arrive within 4 s" in answer
            assert elapsed <= LIMITS.body_s + 5
    finally:
        for sock in held:
            sock.close()
    again = _https(deployment, console, "admin-01")
    try:
        assert _get(again)[0] == 200
    finally:
        again.close()


def test_connections_past_the_per_certificate_cap_are_refused_with_a_clear_429(
    deployment: Deployment, console: ConsoleSite
) -> None:
    kept = [_https(deployment, console, "admin-01") for _ in range(LIMITS.connections_per_officer)]
    try:
        for conn in kept:  # each answered, so each is open and counted (kept alive)
            assert _get(conn, "/static/console.css")[0] == 200
        extra = _https(deployment, console, "admin-01")
        try:
            status, body = _get(extra, "/static/console.css")
        finally:
            extra.close()
        assert status == 429 and "connections open" in body, body
        other = _https(deployment, console, "reviewer-01")
        try:
            assert _get(other, "/static/console.css")[0] == 200
        finally:
            other.close()
    finally:
        for conn in kept:
            conn.close()
    time.sleep(0.3)  # the server sees the closes
    again = _https(deployment, console, "admin-01")
    try:
        assert _get(again, "/static/console.css")[0] == 200
    finally:
        again.close()


def test_dashboards_run_on_the_consoles_threads_not_the_check_ins(
    deployment: Deployment, console: ConsoleSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack run 2026-12-02: the dashboard's read (up to 200,000 records, ~3 s) ran in the default
    thread pool that every check-in's storage calls use: twelve dashboards of three officers, each
    within its limits, made a terminal's BeginVerification wait 49 s. They run on the console's
    own threads; a check-in is served meanwhile."""
    import threading

    from bhytgate.console import app as console_app

    real = console_app._dashboard
    threads: list[str] = []

    def slow(*args: object) -> object:
        threads.append(threading.current_thread().name)
        time.sleep(3)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(console_app, "_dashboard", slow)
    officers = ["admin-01", "reviewer-01", "auditor-01"] * LIMITS.requests_per_officer
    answers: list[int] = []

    def one(terminal: str) -> None:
        conn = _https(deployment, console, terminal)
        try:
            answers.append(_get(conn)[0])
        finally:
            conn.close()

    load = [threading.Thread(target=one, args=(t,)) for t in officers]
    for t in load:
        t.start()
    time.sleep(0.5)
    with deployment.client("desk-01") as client:
        t0 = time.monotonic()
        client.begin(terminal_kind="desk")
        waited = time.monotonic() - t0
    for t in load:
        t.join(60)
    assert answers == [200] * len(officers)
    assert threads and all(name.startswith("console") for name in threads), threads
    assert waited < 1.5

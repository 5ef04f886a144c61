"""The console's aiohttp application: authentication and security headers as middleware, one small
handler per page, Jinja2 templates with autoescaping. Handlers call the service layer off the event
loop (the store is synchronous) and render; they decide nothing themselves."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2
from aiohttp import BodyPartReader, MultipartReader, web
from multidict import MultiDict, MultiDictProxy

from bhytgate.console import charts, stats
from bhytgate.console.auth import Officer, csrf_key, csrf_ok, csrf_token, officer_of
from bhytgate.console.limits import OfficerSlots
from bhytgate.console.settings import ConsoleLimits

if TYPE_CHECKING:
    from bhytgate.service.gateway import Gateway

log = logging.getLogger("bhytgate.console")
HERE = Path(__file__).parent
GATEWAY: web.AppKey[Any] = web.AppKey("gateway", object)
ENV: web.AppKey[jinja2.Environment] = web.AppKey("env", jinja2.Environment)
CSRF: web.AppKey[bytes] = web.AppKey("csrf", bytes)
CLOCK: web.AppKey[Callable[[], dt.datetime]] = web.AppKey("clock", object)  # type: ignore[arg-type]
LIMITS: web.AppKey[ConsoleLimits] = web.AppKey("limits", ConsoleLimits)
SLOTS: web.AppKey[OfficerSlots] = web.AppKey("slots", OfficerSlots)
# The console's storage and parsing work (a dashboard reads up to 200,000 records, ~3 s; a claims
# upload matches dossiers) runs on threads of its own. In the default pool, which every check-in's
# storage calls use (6 threads on 2 cores), twelve dashboards of three officers within their limits
# made a terminal's BeginVerification wait 49 s (attack run, 2026-12-02).
CONSOLE_THREADS = 2
WORK: web.AppKey[concurrent.futures.ThreadPoolExecutor] = web.AppKey(
    "work", concurrent.futures.ThreadPoolExecutor
)
_T = TypeVar("_T")


async def in_console_thread(app: web.Application, fn: Callable[..., _T], *args: Any) -> _T:
    """`fn(*args)` on the console's own threads (never the pool the gateway's RPCs wait on)."""
    return await asyncio.get_running_loop().run_in_executor(app[WORK], functools.partial(fn, *args))


WINDOWS_H = (1, 6, 24, 72, 168)
SPIKE_RATE = 0.5  # a terminal refusing half its checks is highlighted
_ASCII_DIGITS = re.compile(r"[0-9]{1,5}")  # enough for any window (the claims one: 10080 minutes)


def ascii_number(text: str) -> int | None:
    """The number `text` is as 1 to 5 ASCII digits, nothing else; None otherwise. int() alone also
    reads other scripts' digits ("２４", "٢٤"), '_' between digits, a sign and whitespace."""
    return int(text) if _ASCII_DIGITS.fullmatch(text) else None


async def read_field(part: BodyPartReader, limit: int) -> bytes | None:
    """A small multipart field in full, or None once it passes `limit` bytes: `part.read()` holds
    a part of any size in memory (a 1 GiB "csrf" field before the file, say)."""
    data = bytearray()
    while chunk := await part.read_chunk(4096):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(part.decode(bytes(data)))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True, slots=True)
class NavItem:
    id: str
    href: str
    label: str
    roles: tuple[str, ...] = ("admin", "reviewer", "auditor")


NAV: web.AppKey[list[NavItem]] = web.AppKey("nav", list)
OFFICER_KEY: web.RequestKey[Officer] = web.RequestKey("officer", Officer)
FORM_KEY: web.RequestKey[Any] = web.RequestKey("form", object)
UPLOAD_KEY: web.RequestKey[MultipartReader] = web.RequestKey("upload", MultipartReader)

_HEADERS = {
    # Nothing but our own stylesheet; no scripts at all; no framing; no referrer leaves the console.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000",
}


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request: an officer certificate, a slot of its own, a bound form token on every POST,
    strict headers."""
    try:
        if request.path.startswith("/static/"):
            response = await handler(request)
        else:
            officer = officer_of(request)
            if request.app[GATEWAY].revoked.is_revoked(officer.cert_sha256.hex()):
                raise web.HTTPUnauthorized(text="certificate revoked")
            request[OFFICER_KEY] = officer
            with request.app[SLOTS].hold(officer.cert_sha256):
                if request.method not in ("GET", "HEAD"):
                    await _check_form(request, officer)
                response = await handler(request)
    except web.HTTPException as exc:
        for k, v in _HEADERS.items():
            exc.headers.setdefault(k, v)
        raise
    except Exception as exc:  # a bug of ours: one log line, a plain 500 with the same headers
        log.error("console error on %s %s: %s", request.method, request.path, type(exc).__name__)
        response = web.Response(status=500, text="internal error", headers=_HEADERS)
        return response
    for k, v in _HEADERS.items():
        response.headers.setdefault(k, v)
    return response


async def _check_form(request: web.Request, officer: Officer) -> None:
    """The form token, read within `body_s`: a body that trickles in holds a slot only that long."""
    token: object = None
    limit = request.app[LIMITS].body_s
    try:
        async with asyncio.timeout(limit):
            if request.content_type == "multipart/form-data":
                # An upload streams: the token must be the first part, read here; the handler
                # gets the reader positioned after it and never a body held in memory.
                reader = await request.multipart()
                part = await reader.next()
                if isinstance(part, BodyPartReader) and part.name == "csrf":
                    field = await read_field(part, 128)  # longer than any token: refused below
                    token = field.decode("ascii", "replace") if field is not None else None
                request[UPLOAD_KEY] = reader
                request[FORM_KEY] = MultiDictProxy(MultiDict())
            else:
                form = await request.post()
                token = form.get("csrf")
                request[FORM_KEY] = form
    except TimeoutError:
        late = web.HTTPRequestTimeout(text=f"the request body did not arrive within {limit:g} s")
        late.force_close()  # the rest of the body is not waited for
        raise late from None
    if not isinstance(token, str) or not csrf_ok(request.app[CSRF], officer, token):
        raise web.HTTPForbidden(text="form token missing or not for this certificate")


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    officer = request[OFFICER_KEY]
    body = (
        request.app[ENV]
        .get_template(template)
        .render(
            officer=officer,
            csrf=csrf_token(request.app[CSRF], officer),
            extra_nav=[n for n in request.app[NAV] if officer.role in n.roles],
            **values,
        )
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8", status=status)


def _dashboard(
    gateway: Gateway, scope: stats.Scope, until: dt.datetime, hours: int, limit: int
) -> tuple[stats.Dashboard, bool]:
    """The scope's own decisions of the window, read through the audit index (newest first, at
    most `limit`) and aggregated as they stream: memory holds the counts, not the records. True
    when `limit` cut the window short."""
    window = dt.timedelta(hours=hours)
    bucket = dt.timedelta(minutes=5) if hours == 1 else dt.timedelta(hours=1 if hours <= 24 else 6)
    read = 0

    def decisions() -> Iterator[stats.Decision]:
        nonlocal read
        bodies = gateway.store.audit_decisions(
            until - window, until, facility=scope.facility, province=scope.province, limit=limit
        )
        for body in bodies:
            read += 1
            try:
                parsed = json.loads(body)
            except ValueError:
                continue
            d = stats.decode(parsed) if isinstance(parsed, dict) else None
            if d is not None:
                yield d

    dash = stats.build(decisions(), until=until, window=window, bucket=bucket, scope=scope)
    return dash, read >= limit


async def dashboard(request: web.Request) -> web.Response:
    hours = ascii_number(request.query.get("hours", "24"))
    if hours is None or hours not in WINDOWS_H:
        raise web.HTTPBadRequest(text=f"hours must be one of {', '.join(map(str, WINDOWS_H))}")
    officer = request[OFFICER_KEY]
    scope = stats.Scope.of(officer.role, officer.facility)
    limit = request.app[LIMITS].dashboard_records
    dash, truncated = await in_console_thread(
        request.app, _dashboard, request.app[GATEWAY], scope, request.app[CLOCK](), hours, limit
    )
    chart = charts.stacked_bars(dash.buckets, dash.by_reason, title="Decisions by reason")
    return render(
        request,
        "dashboard.html",
        dash=dash,
        chart=chart,
        hours=hours,
        scope=scope.describe(),
        spike_rate=SPIKE_RATE,
        scanned_limit=limit if truncated else None,
    )


PageSetup = Callable[[web.Application], None]


def build_app(
    gateway: Gateway,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    pages: tuple[PageSetup, ...] = (),
    max_form_bytes: int = 64 * 1024,
    limits: ConsoleLimits | None = None,
) -> web.Application:
    """The console for one gateway. `pages` add their own routes and navigation entries."""
    # Forms are small; uploads stream (multipart) and their pages bound them themselves.
    app = web.Application(middlewares=[_guard], client_max_size=max_form_bytes)
    app[GATEWAY] = gateway
    app[ENV] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app[CSRF] = csrf_key(gateway.audit_key)
    app[CLOCK] = clock or (lambda: dt.datetime.now(dt.UTC))
    app[NAV] = []
    app[LIMITS] = limits or ConsoleLimits()
    app[SLOTS] = OfficerSlots(app[LIMITS].requests_per_officer)
    app[WORK] = concurrent.futures.ThreadPoolExecutor(CONSOLE_THREADS, thread_name_prefix="console")

    async def stop_work(app: web.Application) -> None:
        app[WORK].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(stop_work)
    app.router.add_get("/", dashboard)
    app.router.add_static("/static/", HERE / "static", show_index=False, follow_symlinks=False)
    for setup in pages:
        setup(app)
    return app

"""The review queue in the console: the reviewer's open cases, resolved with a written reason.

Same service calls, scope and audit as ReviewService over gRPC (`service.review`): the officer's
certificate is the reviewer, so a case outside its facility or province is not found here either.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web

from bhytgate import ids
from bhytgate.console.app import FORM_KEY, GATEWAY, NAV, OFFICER_KEY, NavItem, render
from bhytgate.console.auth import Officer, require_role
from bhytgate.policy.model import TerminalKind
from bhytgate.service.model import Caller, FailedPrecondition, NotFound
from bhytgate.service.review_servicer import MAX_REASON_CHARS
from bhytgate.storage import StoreUnavailable

if TYPE_CHECKING:
    from bhytgate.service.gateway import Gateway

PAGE = 200


def _caller(officer: Officer) -> Caller:
    return Caller(officer.terminal_id, officer.facility, officer.role, TerminalKind(officer.kind))


async def _page(
    request: web.Request, *, flash: str | None = None, error: str | None = None, status: int = 200
) -> web.Response:
    officer = request[OFFICER_KEY]
    require_role(officer, "reviewer")
    gateway: Gateway = request.app[GATEWAY]
    try:
        cases = await gateway.reviews.list_open(_caller(officer), PAGE)
    except StoreUnavailable:
        raise web.HTTPServiceUnavailable(text="the database is unavailable; try again") from None
    now = dt.datetime.now(dt.UTC)
    return render(
        request,
        "review.html",
        status=status,
        cases=cases,
        now=now,
        flash=flash,
        error=error,
        max_reason=MAX_REASON_CHARS,
    )


async def review_list(request: web.Request) -> web.Response:
    done = request.query.get("done", "")
    state = request.query.get("state", "")
    flash = None
    if done and state in ("ACCEPTED", "REJECTED"):
        try:
            flash = f"Case {ids.verification_id(done)} resolved: {state}."
        except ValueError:
            flash = None
    return await _page(request, flash=flash)


async def review_resolve(request: web.Request) -> web.StreamResponse:
    officer = request[OFFICER_KEY]
    require_role(officer, "reviewer")
    form = request[FORM_KEY]
    try:
        vid = ids.verification_id(request.match_info["vid"])
    except ValueError:
        raise web.HTTPBadRequest(text="not a verification id") from None
    decision, reason = form.get("decision"), form.get("reason")
    if decision not in ("accept", "reject"):
        return await _page(request, error="Choose Accept or Reject.", status=400)
    if not isinstance(reason, str) or not reason.strip():
        return await _page(request, error="A written reason is required.", status=400)
    try:
        ids.free_text(reason, MAX_REASON_CHARS)
    except ValueError as exc:
        return await _page(request, error=f"Reason {exc}.", status=400)
    gateway: Gateway = request.app[GATEWAY]
    try:
        res = await gateway.reviews.resolve(_caller(officer), vid, accept=decision == "accept", reason=reason)
    except NotFound:
        return await _page(request, error="No open case with that verification id here.", status=404)
    except FailedPrecondition as exc:
        return await _page(request, error=f"Not resolved: {exc}.", status=409)
    except StoreUnavailable:
        return await _page(request, error="The database is unavailable; try again.", status=503)
    raise web.HTTPSeeOther(f"/review?done={vid}&state={res.state}")


def setup(app: web.Application) -> None:
    app.router.add_get("/review", review_list)
    app.router.add_post("/review/{vid}", review_resolve)
    app[NAV].append(NavItem("review", "/review", "Review queue", roles=("reviewer",)))

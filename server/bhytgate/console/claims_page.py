"""Claims reconciliation in the console: upload a hospital's claims file (QĐ 130 / QĐ 4750
envelope), see its dossiers by class with the amounts claimed. The file streams through the same
`claims.service.Reconciliation` as AdminService.ReconcileClaims, in bounded memory, and leaves the
same audit record."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING

from aiohttp import BodyPartReader, web

from bhytgate.claims.envelope import MAX_FILE_BYTES, ClaimsFileError, ClaimsScopeError
from bhytgate.claims.match import Outcome, Status
from bhytgate.claims.service import MAX_WINDOW
from bhytgate.console.app import (
    GATEWAY,
    NAV,
    OFFICER_KEY,
    UPLOAD_KEY,
    NavItem,
    ascii_number,
    in_console_thread,
    read_field,
    render,
)
from bhytgate.console.auth import require_role
from bhytgate.console.review_page import _caller
from bhytgate.storage import StoreUnavailable

if TYPE_CHECKING:
    from bhytgate.service.gateway import Gateway

log = logging.getLogger("bhytgate.console")

CHUNK = 1024 * 1024
READ_STALL_S = 60.0  # an upload that sends nothing for this long is dropped
ROLES = ("admin", "auditor")  # an admin: its own facility's files; the auditor: any
# Dossiers listed on the page (every class but verified, and re-sent verified ones); the summary counts all.
SHOWN = 500


@dataclasses.dataclass
class _Report:
    file_name: str = ""
    bytes_read: int = 0
    shown: list[Outcome] = dataclasses.field(default_factory=list)
    hidden: int = 0

    def keep(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.status is Status.VERIFIED and not o.reason:  # a re-sent one is shown: it was claimed before
                continue
            if len(self.shown) < SHOWN:
                self.shown.append(o)
            else:
                self.hidden += 1


async def claims_form(request: web.Request) -> web.Response:
    require_role(request[OFFICER_KEY], *ROLES)
    return render(request, "claims.html", summary=None, report=None, error=None, max_window=_max_minutes())


def _max_minutes() -> int:
    return int(MAX_WINDOW.total_seconds() // 60)


async def claims_upload(request: web.Request) -> web.Response:
    officer = request[OFFICER_KEY]
    require_role(officer, *ROLES)
    gateway: Gateway = request.app[GATEWAY]
    reader = request.get(UPLOAD_KEY)

    def fail(message: str, status: int = 400) -> web.Response:
        return render(
            request,
            "claims.html",
            status=status,
            summary=None,
            report=None,
            error=message,
            max_window=_max_minutes(),
        )

    if reader is None:
        return fail("Upload the file as multipart/form-data (the page's form does).")
    window: dt.timedelta | None = None
    part = await reader.next()
    if isinstance(part, BodyPartReader) and part.name == "window_minutes":
        # The field in full (never its first characters: "0000000000000005" + "9" was 5 minutes).
        field = await read_field(part, 16)
        text = field.decode("ascii", "replace") if field is not None else "too long"
        if text:
            minutes = ascii_number(text)
            if minutes is None or minutes > _max_minutes():
                return fail(f"Window must be 0 (default) to {_max_minutes()} minutes.")
            window = dt.timedelta(minutes=minutes) if minutes else None
        part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
        return fail("Choose a claims file to upload.")
    job = gateway.reconciliation(window, _caller(officer))
    report = _Report(file_name=part.filename[:200])
    try:
        while True:
            async with asyncio.timeout(READ_STALL_S):  # a stalled upload holds nothing for long
                chunk = await part.read_chunk(CHUNK)
            if not chunk:
                break
            report.bytes_read += len(chunk)
            if report.bytes_read > MAX_FILE_BYTES:
                return fail(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB.", 413)
            report.keep(await in_console_thread(request.app, job.feed, chunk))
        if report.bytes_read == 0:
            return fail("The file is empty.")
        if await reader.next() is not None:
            return fail("Upload one claims file at a time.")
        report.keep(await in_console_thread(request.app, job.close))
        await gateway.record_reconciliation(_caller(officer), job.summary)
    except ClaimsScopeError as exc:
        return fail(f"Claims file: {exc}", 403)
    except ClaimsFileError as exc:
        return fail(f"Claims file: {exc}")
    except StoreUnavailable:
        return fail("The database is unavailable; try again.", 503)
    except TimeoutError:
        return fail(f"The upload stalled for {READ_STALL_S:.0f} s; send it again.", 408)
    except ConnectionError:
        log.info("claims upload ended by the client")
        raise web.HTTPBadRequest(text="upload interrupted") from None
    summary = job.summary
    rows = [(s.value, summary.counts[s], summary.amounts[s]) for s in Status]
    return render(
        request,
        "claims.html",
        summary=summary,
        rows=rows,
        report=report,
        error=None,
        max_window=_max_minutes(),
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/claims", claims_form)
    app.router.add_post("/claims", claims_upload)
    app[NAV].append(NavItem("claims", "/claims", "Claims reconciliation", roles=ROLES))

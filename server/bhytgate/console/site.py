"""Serving the console beside the gRPC port: same event loop, same server certificate, same
terminal CA (only officer roles get past `auth.officer_of`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bhytgate.console import claims_page, review_page
from bhytgate.console.app import PageSetup, build_app
from bhytgate.console.auth import server_context
from bhytgate.console.limits import GatedSite, runner_kwargs
from bhytgate.console.settings import ConsoleLimits
from bhytgate.pki.devca import PkiLayout

if TYPE_CHECKING:
    from pathlib import Path

    from bhytgate.service.gateway import Gateway

log = logging.getLogger("bhytgate.console")


class ConsoleSite:
    """A running console: `port` is the bound one (ask for 0 to get a free port)."""

    def __init__(self, runner: web.AppRunner, site: GatedSite, host: str, port: int) -> None:
        self.runner = runner
        self.site = site
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/"

    async def stop(self) -> None:
        await self.runner.cleanup()


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not port.isascii():
        raise ValueError(f"console address must be HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)


async def start_console(
    gateway: Gateway,
    listen: str,
    pki_dir: Path,
    *,
    pages: tuple[PageSetup, ...] = (review_page.setup, claims_page.setup),
    limits: ConsoleLimits | None = None,
) -> ConsoleSite:
    host, port = _split(listen)
    limits = limits or ConsoleLimits()
    layout = PkiLayout(pki_dir)
    ctx = server_context(str(layout.ca_cert), str(layout.server_cert), str(layout.server_key))
    runner = web.AppRunner(
        build_app(gateway, pages=pages, limits=limits),
        access_log=None,
        shutdown_timeout=2.0,
        **runner_kwargs(limits),
    )
    await runner.setup()
    site = GatedSite(runner, host, port, ssl_context=ctx, limits=limits)
    await site.start()
    bound = port
    for addr in runner.addresses:  # the bound (host, port, ...) of each listening socket
        bound = int(addr[1])
        break
    log.info("console on https://%s:%d/", host, bound)
    return ConsoleSite(runner, site, host, bound)

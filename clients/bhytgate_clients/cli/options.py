"""Options shared by the commands that talk to a gateway."""

from __future__ import annotations

from typing import Any

import click

ADDRESS_HELP = (
    "The gateway: HOST:PORT, a comma-separated list of replicas (IPv4, [IPv6] or host names) or one "
    "DNS name HOST:PORT resolving to them; calls go round robin to the healthy ones "
    "(default: gateway.json in --home)."
)


def address_option(f: Any) -> Any:
    return click.option("--address", default=None, metavar="HOST:PORT[,HOST:PORT...]", help=ADDRESS_HELP)(f)

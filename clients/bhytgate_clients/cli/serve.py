"""`bhytgate serve`: the gateway on embedded defaults (SQLite, dev PKI, demo citizens)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from bhytgate_clients.sdk.home import default_home


@click.command("serve")
@click.option(
    "--home", type=click.Path(path_type=Path), help="Data folder (default $BHYTGATE_HOME or ./.bhytgate)."
)
@click.option(
    "--listen", default="127.0.0.1:50051", show_default=True, help="host:port; port 0 picks a free one."
)
@click.option("--workers", type=int, help="Face worker processes (default: one per core).")
@click.option("--queue-limit", type=int, help="Checks that may wait for a worker before shedding.")
@click.option("--database", help="sqlite:///path or postgresql://... (default: SQLite under --home).")
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on 127.0.0.1:PORT.")
@click.option(
    "--console",
    "console_listen",
    help="Serve the officers' web console on HOST:PORT (HTTPS, reviewer/admin certificates).",
)
@click.option(
    "--faces", type=click.Path(path_type=Path), help="Photos for the demo citizens (../shared/faces)."
)
@click.option(
    "--no-demo", is_flag=True, help="Do not create demo citizens; trust anchors come from --home/trust."
)
@click.option(
    "--shutdown-grace",
    type=float,
    help="Seconds the checks in flight get on SIGTERM/Ctrl-C (default 10); a second signal exits at once.",
)
@click.option(
    "--plaintext", is_flag=True, help="INSECURE: no TLS, no terminal authentication (local tests only)."
)
@click.option(
    "--master-key-file",
    type=click.Path(path_type=Path),
    help="Cluster mode: the master key (64 hex chars) that wraps the cluster's secrets"
    " (default $BHYTGATE_MASTER_KEY). Required with PostgreSQL.",
)
@click.option("--init-cluster", is_flag=True, help="Create the cluster in this database if it has none yet.")
@click.option(
    "--info-name", default="gateway.json", show_default=True, help="File in --home describing this process."
)
def serve(
    home: Path | None,
    listen: str,
    workers: int | None,
    queue_limit: int | None,
    database: str | None,
    metrics_port: int | None,
    console_listen: str | None,
    faces: Path | None,
    no_demo: bool,
    shutdown_grace: float | None,
    plaintext: bool,
    master_key_file: Path | None,
    init_cluster: bool,
    info_name: str,
) -> None:
    """Start the gateway and print where everything is."""
    from bhytgate.service.cluster import ClusterError
    from bhytgate.service.config import load_config
    from bhytgate.service.server import RunningGateway, run
    from bhytgate.storage import StoreUnavailable
    from bhytgate_clients.devsetup import default_faces_dir, ensure_dev_home

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = (home or default_home()).resolve()
    flags = {
        "listen": listen,
        "workers": workers,
        "queue_limit": queue_limit,
        "database_url": database,
        "metrics_port": metrics_port,
        "console_listen": console_listen,
        "plaintext": plaintext or None,
        "master_key_file": master_key_file,
        "init_cluster": init_cluster or None,
        "info_name": info_name,
        "shutdown_grace_seconds": shutdown_grace,
    }
    try:
        config = load_config(root, **flags)
    except (OSError, ValueError, TypeError) as exc:
        _fail(f"configuration unusable: {exc}")
    dev = None
    if not no_demo:
        try:
            dev = ensure_dev_home(config, faces or default_faces_dir(), log=click.echo)
        except (FileNotFoundError, ValueError, ClusterError, StoreUnavailable) as exc:
            _fail(str(exc))
        config = load_config(root, **flags)  # the demo set-up wrote gateway.toml

    def ready(running: RunningGateway) -> None:
        click.echo(
            f"BHYT gateway listening on {running.address} ({'PLAINTEXT' if config.plaintext else 'mTLS'})"
        )
        click.echo(f"  face workers : {len(running.worker_pids)} (models loaded)")
        click.echo(f"  database     : {config.db_url}")
        click.echo(f"  trust anchors: {config.trust_dir} ({running.gateway.trust.csca_total} CSCAs)")
        click.echo(f"  dev PKI      : {config.pki_dir} (terminals: {', '.join(_terminals(config.pki_dir))})")
        if dev is not None:
            click.echo(
                f"  demo cards   : {dev.demo / 'cards'} ({len(dev.cards)}), attacks: {dev.demo / 'attacks'}"
            )
            example = dev.cards[0]
            click.echo(f"  try          : bhytgate checkin --card {example} --frame {_live_photo(example)}")
        if running.console is not None:
            click.echo(f"  console      : {running.console.url} (officer certificate required)")
        if config.metrics_port:
            click.echo(f"  metrics      : http://127.0.0.1:{config.metrics_port}/metrics")
        click.echo("Ctrl-C or SIGTERM to stop (checks in flight finish first).")

    try:
        run(config, on_ready=ready)
    except ClusterError as exc:
        _fail(f"cannot join the cluster: {exc}")
    except StoreUnavailable as exc:
        _fail(f"database {_safe_url(config.db_url)}: {exc}")
    except (FileNotFoundError, PermissionError) as exc:
        _fail(f"{exc.strerror or 'cannot open'}: {exc.filename}")
    except (ValueError, RuntimeError, OSError) as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    """One line and exit status 2: the operator reads what to fix, not a traceback."""
    click.echo(f"bhytgate serve: error: {message}", err=True)
    sys.exit(2)


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, creds = head.partition("://")
    return f"{scheme}://{creds.split(':', 1)[0]}@{tail}"


def _terminals(pki: Path) -> list[str]:
    return sorted(p.stem for p in (pki / "terminals").glob("*.pem"))


def _live_photo(card: Path) -> str:
    import json

    try:
        return str(json.loads((card / "card.json").read_text())["live_photo"])
    except (OSError, KeyError, ValueError):
        return "PHOTO"

"""`bhytgate cluster` (what `make cluster` runs): the embedded demo as N gateway replicas, each a
process of its own with its own face workers, over one PostgreSQL database.

It creates the database if missing, a dev master key (printed where it is: a production replica
gets its key from the operator's secret store), the dev PKI and demo cards, initialises the cluster
once, starts the replicas, writes `gateway.json` with every address (so `bhytgate checkin --home
<folder>` round-robins over them), and stops every replica and worker on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

DEFAULT_DB = "bhytgate_cluster"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"


def ensure_database(server_url: str, name: str) -> str:
    """The cluster's database on the server (created when missing); returns its URL."""
    import psycopg
    from psycopg import sql

    if not name.replace("_", "").isalnum() or not name.isascii():
        raise click.UsageError(f"database name {name!r}: letters, digits and _ only")
    with psycopg.connect(f"{server_url}/postgres", autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server_url}/{name}"


def _wait_ready(procs: list[tuple[int, subprocess.Popen[bytes]]], home: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = {port for port, _ in procs}
    while pending:
        for port, proc in procs:
            if proc.poll() is not None:
                raise click.ClickException(f"replica on port {port} exited with status {proc.returncode}")
            if port in pending and (home / f"replica-{port}.json").exists():
                pending.discard(port)
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"replicas on ports {sorted(pending)} not ready after {timeout_s:.0f} s"
            )
        time.sleep(0.2)


def _stop(procs: list[tuple[int, subprocess.Popen[bytes]]], grace_s: float = 20.0) -> None:
    for _, proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for _, proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@click.command("cluster")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    help="Data folder (default $BHYTGATE_CLUSTER_HOME or ./.bhytgate-cluster).",
)
@click.option("--database", help="Database name (default $BHYTGATE_CLUSTER_DB or bhytgate_cluster).")
@click.option(
    "--server", "server_url", default=DEFAULT_SERVER, show_default=True, help="PostgreSQL server URL."
)
@click.option("--replicas", type=click.IntRange(1, 16), default=3, show_default=True)
@click.option("--base-port", type=int, default=50051, show_default=True, help="Replica i listens on base+i.")
@click.option("--workers", type=int, default=1, show_default=True, help="Face workers per replica.")
@click.option(
    "--faces", type=click.Path(path_type=Path), help="Photos for the demo citizens (../shared/faces)."
)
def cluster(
    home: Path | None,
    database: str | None,
    server_url: str,
    replicas: int,
    base_port: int,
    workers: int,
    faces: Path | None,
) -> None:
    """Run the demo as several replicas over one PostgreSQL database, in the foreground."""
    from bhytgate.service.cluster import ClusterError, new_master_key_file
    from bhytgate.service.config import load_config
    from bhytgate.storage import StoreUnavailable
    from bhytgate_clients.devsetup import DEV_TOML, default_faces_dir, ensure_dev_home

    root = (home or Path(os.environ.get("BHYTGATE_CLUSTER_HOME", ".bhytgate-cluster"))).resolve()
    name = database or os.environ.get("BHYTGATE_CLUSTER_DB", DEFAULT_DB)
    try:
        url = ensure_database(server_url, name)
    except Exception as exc:
        raise click.ClickException(f"PostgreSQL at {server_url}: {type(exc).__name__}: {exc}") from None
    master = root / "keys" / "master.key"
    if not master.exists():
        new_master_key_file(master)
        click.echo(f"created a dev master key in {master} (production: from a secret store)")
    if not (root / "gateway.toml").exists():  # before the cluster records its configuration
        (root / "gateway.toml").write_text(DEV_TOML, encoding="utf-8")
    config = load_config(root, database_url=url, master_key_file=master, init_cluster=True)
    try:
        ensure_dev_home(config, faces or default_faces_dir(), log=click.echo)
    except (FileNotFoundError, ValueError, ClusterError, StoreUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    ports = [base_port + i for i in range(replicas)]
    for port in ports:
        (root / f"replica-{port}.json").unlink(missing_ok=True)
    procs: list[tuple[int, subprocess.Popen[bytes]]] = []
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for port in ports:
            args = [
                sys.executable, "-m", "bhytgate_clients.cli", "serve", "--home", str(root),
                "--listen", f"127.0.0.1:{port}", "--database", url, "--master-key-file", str(master),
                "--no-demo", "--workers", str(workers), "--info-name", f"replica-{port}.json",
            ]  # fmt: skip
            with (logs / f"replica-{port}.log").open("ab") as log:
                # Our own interpreter and fixed arguments: nothing from outside reaches the command.
                proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
                procs.append((port, proc))
        _wait_ready(procs, root, 300)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        info = {"address": ",".join(addresses), "addresses": addresses, "plaintext": False, "cluster": True}
        (root / "gateway.json").write_text(json.dumps(info, indent=2))
        click.echo(f"BHYT gateway cluster: {replicas} replicas on {', '.join(addresses)} (mTLS)")
        click.echo(f"  database     : {url}")
        click.echo(f"  data folder  : {root} (PKI: {root / 'pki'}, demo cards: {root / 'demo' / 'cards'})")
        click.echo(f"  master key   : {master}")
        click.echo(f"  replica logs : {logs}")
        click.echo(f"  pids         : {', '.join(str(p.pid) for _, p in procs)}")
        card = root / "demo" / "cards" / "00-obama"
        click.echo(f"  try          : bhytgate checkin --home {root} --card {card} --frame PHOTO")
        click.echo("Ctrl-C to stop every replica.")
        while not stopping:
            for port, proc in procs:
                if proc.poll() is not None:
                    click.echo(f"replica on port {port} exited with status {proc.returncode}", err=True)
                    procs.remove((port, proc))
                    break
            if not procs:
                raise click.ClickException("every replica has exited")
            time.sleep(0.5)
    finally:
        click.echo("stopping replicas...")
        _stop(procs)
        (root / "gateway.json").unlink(missing_ok=True)
    click.echo("cluster stopped")

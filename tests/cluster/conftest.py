"""Gateway replicas as real processes (`bhytgate serve`) over one real PostgreSQL database.

One database per test session (created, then dropped), one data folder shared by the replicas as
`make cluster` does, a dev master key, and the demo citizens. Replicas listen on free loopback ports
with mTLS and one face worker each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate.service.cluster import new_master_key_file
from bhytgate.service.config import load_config
from bhytgate.storage.sql import PostgresStore
from bhytgate_clients.devsetup import DEV_TOML, ensure_dev_home
from bhytgate_clients.sdk import GatewayClient

PG_SERVER = os.environ.get("BHYTGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")

# Short bounds so that an abandoned check is recorded by the sweep within seconds in these tests.
CLUSTER_TOML = DEV_TOML.replace(
    "[gateway]\n",
    "[gateway]\nmax_check_seconds = 8\norphan_grace_s = 2\norphan_sweep_s = 1\n",
)


@dataclasses.dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    address: str
    log: Path

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclasses.dataclass
class Cluster:
    home: Path
    url: str
    master: Path
    faces: Path
    replicas: dict[str, Replica]

    def serve_args(self, name: str, *extra: str, master: Path | None = None) -> list[str]:
        return [
            sys.executable, "-m", "bhytgate_clients.cli", "serve", "--home", str(self.home),
            "--listen", "127.0.0.1:0", "--database", self.url,
            "--master-key-file", str(master or self.master), "--no-demo", "--workers", "1",
            "--info-name", f"replica-{name}.json", *extra,
        ]  # fmt: skip

    def start(self, name: str, *extra: str, timeout_s: float = 240) -> Replica:
        info = self.home / f"replica-{name}.json"
        info.unlink(missing_ok=True)
        log = self.home / f"replica-{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(self.serve_args(name, *extra), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not info.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"replica {name} exited {proc.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"replica {name} not ready: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        replica = Replica(name, proc, json.loads(info.read_text())["address"], log)
        self.replicas[name] = replica
        return replica

    def client(self, terminal: str, *names: str) -> GatewayClient:
        address = ",".join(self.replicas[n].address for n in names)
        return GatewayClient.local(terminal, home=self.home, address=address, timeout_s=60)

    def store(self) -> PostgresStore:
        """Read the shared database directly (no template key: audit and challenges only)."""
        return PostgresStore(self.url, template_key=None)

    def card(self, identity: str) -> Path:
        return next(
            p for p in sorted((self.home / "demo" / "cards").iterdir()) if p.name.endswith(f"-{identity}")
        )


def _pg_or_skip() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}: {type(exc).__name__}")


def _drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Cluster]:
    _pg_or_skip()
    import psycopg
    from psycopg import sql

    name = f"bhytgate_ct_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    home = tmp_path_factory.mktemp("cluster-home")
    (home / "gateway.toml").write_text(CLUSTER_TOML, encoding="utf-8")
    master = home / "keys" / "master.key"
    new_master_key_file(master)
    url = f"{PG_SERVER}/{name}"
    config = load_config(home, database_url=url, master_key_file=master, init_cluster=True)
    ensure_dev_home(config, faces_dir, log=lambda *_: None)
    for terminal, facility, kind in (
        ("desk-b", "79014", "desk"),
        ("lab-desk", "01001", "desk"),
        ("signing-kiosk", "01001", "kiosk"),
        ("burst-desk", "01001", "desk"),
    ):
        add_terminal(config.pki_dir, TerminalIdentity(terminal, facility, "hospital-checkin", kind))  # type: ignore[arg-type]
    c = Cluster(home, url, master, faces_dir, {})
    try:
        c.start("a")
        c.start("b")
        yield c
    finally:
        for replica in c.replicas.values():
            replica.stop()
        _drop_database(name)

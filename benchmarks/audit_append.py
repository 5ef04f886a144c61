"""Audit append throughput: W writer processes appending to ONE hash chain, as W replicas do.

    python -m benchmarks.audit_append --database postgresql://postgres@127.0.0.1:5432 \\
        [--records 500] [--writers 1,3] [--no-sqlite] [--out benchmarks/results] [--name audit-append]

Each writer is a process of its own with its own store (`PostgresStore` over a fresh database the
harness creates and drops, or `SqliteStore` over one temporary file), and appends `records` records
through `Store.append_audit` exactly as the gateway's recorder does: an `AuditEvent` sealed by
`bhytgate.audit.chain.builder`, with a `record_id` (at most once) and the spent challenge marked as
recorded in the same transaction (`challenge_id`; the challenges are issued before the clock
starts). On PostgreSQL that transaction takes `LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE`
and holds it through its commit, so appends are serialised across every process: the chain's
ceiling is about 1 / (the lock holder's statements + its commit).

Reported per configuration: appends/s in total (all records / wall time from the common start to
the last append), per-append latency p50 / p99 / max over all writers, and the chain verified
afterwards (`verify_chain(store.iter_audit())`) with its length.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
AUDIT_KEY = b"bench-audit-key-0123456789abcdef"


@dataclasses.dataclass(frozen=True)
class Job:
    engine: str  # postgres | sqlite
    url: str  # postgresql://.../db or a SQLite file path
    writer: int
    records: int


def _open(engine: str, url: str) -> Any:
    from bhytgate.storage.sql import PostgresStore, SqliteStore

    if engine == "postgres":
        return PostgresStore(url, template_key=None)
    return SqliteStore(url, template_key=None)


def _writer(job: Job, ready: Any, go: Any, results: Any) -> None:
    from bhytgate.audit.chain import AuditEvent, builder
    from bhytgate.storage.interface import ChallengeRecord

    store = _open(job.engine, job.url)
    try:
        now = dt.datetime.now(dt.UTC)
        challenges = []
        for _ in range(job.records):
            cid = uuid.uuid4().hex
            store.issue_challenge(
                ChallengeRecord(
                    challenge_id=cid,
                    terminal_id=f"bench-writer-{job.writer}",
                    nonce=secrets.token_bytes(32),
                    aa_challenge=secrets.token_bytes(32),
                    actions=(),
                    issued_at=now,
                    expires_at=now + dt.timedelta(hours=1),
                    facility="01001",
                )
            )
            challenges.append(cid)
        store.audit_head()  # the connection is open before the clock starts
        ready.release()
        go.wait()
        latencies: list[float] = []
        started = time.time()
        for i, cid in enumerate(challenges):
            event = AuditEvent(
                verification_id=uuid.uuid4().hex,
                at=dt.datetime.now(dt.UTC),
                decision="ACCEPTED",
                facility="01001",
                terminal_id=f"bench-writer-{job.writer}",
                assurance_level="CHIP_AA_FACE_LIVENESS",
                document_number=f"0011850{job.writer:02d}{i:03d}",
                face_distance=0.31,
                face_threshold=0.5,
            )
            t0 = time.perf_counter()
            store.append_audit(builder(event, AUDIT_KEY), record_id=event.verification_id, challenge_id=cid)
            latencies.append((time.perf_counter() - t0) * 1000)
        results.put({"writer": job.writer, "start": started, "end": time.time(), "latencies_ms": latencies})
    except Exception as exc:  # reported, never hangs the parent
        results.put({"writer": job.writer, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        store.close()


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def server_url(url: str) -> str:
    """postgresql://user@host:port[/db][?query] -> the server part, without the database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))


def with_database(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def create_database(server: str, name: str) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(server, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server, name)


def drop_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(server, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
            " AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def measure(engine: str, url: str, writers: int, records: int, timeout_s: float = 600.0) -> dict[str, Any]:
    """One configuration: `writers` processes x `records` appends to the chain at `url`."""
    from bhytgate.audit.chain import verify_chain

    store = _open(engine, url)  # migrates once, before the writers race for it
    store.close()
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(Job(engine, url, w, records), ready, go, results), daemon=True)
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout_s
    for _ in procs:
        if not ready.acquire(timeout=max(1.0, deadline - time.monotonic())):
            break
    load_before = os.getloadavg()
    go.set()
    out: list[dict[str, Any]] = []
    for _ in procs:
        try:
            out.append(results.get(timeout=max(1.0, deadline - time.monotonic())))
        except Exception:
            out.append({"error": "writer did not report in time"})
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    errors = [r["error"] for r in out if "error" in r]
    lat = sorted(v for r in out for v in r.get("latencies_ms", []))
    done = [r for r in out if "error" not in r]
    wall = (max(r["end"] for r in done) - min(r["start"] for r in done)) if done else 0.0
    store = _open(engine, url)
    try:
        report = verify_chain(store.iter_audit())
        length = store.audit_head()[0]
    finally:
        store.close()
    return {
        "engine": engine,
        "writers": writers,
        "records_per_writer": records,
        "appended": len(lat),
        "wall_s": wall,
        "appends_per_s": len(lat) / wall if wall > 0 else 0.0,
        "per_writer_appends_per_s": [len(r["latencies_ms"]) / max(1e-9, r["end"] - r["start"]) for r in done],
        "latency_ms": {
            "p50": _quantile(lat, 0.5),
            "p90": _quantile(lat, 0.9),
            "p99": _quantile(lat, 0.99),
            "max": lat[-1] if lat else 0.0,
            "mean": sum(lat) / len(lat) if lat else 0.0,
        },
        "chain": {
            "ok": report.ok,
            "checked": report.checked,
            "length": length,
            "reason": report.reason,
            "first_broken_index": report.first_broken_index,
        },
        "errors": errors,
        "loadavg_1m_before": load_before[0],
        "loadavg_1m_after": os.getloadavg()[0],
    }


def run(
    database: str | None,
    *,
    writers: Sequence[int] = (1, 3),
    records: int = 500,
    sqlite: bool = True,
) -> dict[str, Any]:
    """Every configuration in turn, each on a fresh database (PostgreSQL) or file (SQLite)."""
    results: list[dict[str, Any]] = []
    if database is not None:
        server = server_url(database)
        for w in writers:
            name = f"bhytgate_audit_{secrets.token_hex(4)}"
            url = create_database(server, name)
            try:
                results.append(measure("postgres", url, w, records))
            finally:
                drop_database(server, name)
    if sqlite:
        for w in writers:
            with tempfile.TemporaryDirectory(prefix="bhytgate-audit-") as tmp:
                results.append(measure("sqlite", str(Path(tmp) / "audit.db"), w, records))
    settings: dict[str, Any] = {}
    if database is not None:
        settings = postgres_settings(server_url(database))
    return {"records_per_writer": records, "postgres_settings": settings, "results": results}


def postgres_settings(server: str) -> dict[str, str]:
    """The server settings an append's commit depends on."""
    import psycopg

    names = (
        "server_version",
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "commit_delay",
        "shared_buffers",
    )
    out: dict[str, str] = {}
    with psycopg.connect(with_database(server, "postgres"), autocommit=True, connect_timeout=5) as conn:
        for name in names:
            row = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", (name,)).fetchone()
            out[name] = "" if row is None else str(row[0])
    return out


def markdown_rows(report: dict[str, Any]) -> list[str]:
    lines = [
        "| engine | writers | appends | appends/s (total) | per writer /s | p50 ms | p99 ms | max ms "
        "| chain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        chain = r["chain"]
        verdict = f"ok, {chain['length']} records" if chain["ok"] else f"**broken**: {chain['reason']}"
        if r["errors"]:
            verdict += f"; errors: {r['errors'][:2]}"
        per_writer = ", ".join(f"{v:.0f}" for v in r["per_writer_appends_per_s"])
        lat = r["latency_ms"]
        lines.append(
            f"| {r['engine']} | {r['writers']} | {r['appended']} | {r['appends_per_s']:.0f} | {per_writer} | "
            f"{lat['p50']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} | {verdict} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", help="postgresql://user@host:port (a fresh database is created)")
    parser.add_argument("--records", type=int, default=500, help="appends per writer")
    parser.add_argument("--writers", default="1,3", help="comma-separated writer counts")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write <date>-<name>.{json,md} here")
    parser.add_argument("--name", default="audit-append", help="file name after the date")
    args = parser.parse_args(argv)
    writers = [int(w) for w in args.writers.split(",") if w.strip()]
    sys.path.insert(0, str(REPO))
    from benchmarks.machine import machine_info

    report = {
        "schema": "bhytgate-audit-append/1",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "loadavg_start": os.getloadavg(),
        **run(args.database, writers=writers, records=args.records, sqlite=not args.no_sqlite),
        "loadavg_end": os.getloadavg(),
    }
    text = "\n".join(markdown_rows(report))
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"{report['date'][:10]}-{args.name}"
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        stem.with_suffix(".md").write_text(
            f"# Audit append throughput — {report['date']}\n\n{text}\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()

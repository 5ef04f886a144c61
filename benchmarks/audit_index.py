"""The audit index (migration 10) against the linear reads it replaced, on one database of N records.

    python -m benchmarks.audit_index [--records 200000] [--database postgresql://postgres@127.0.0.1:5432]
        [--no-sqlite] [--repeat 3] [--out benchmarks/results] [--name audit-index]

Per engine: a database at migration 8 (no index) gets N sealed records in one chain, bulk-inserted
(the bodies exactly as `audit.chain` seals them), spread over the last 7 days across 60 facilities;
one small facility (01001) holds 0.5% of them, one holder 8 records across the whole span. Then:

- before: the dashboard of the small facility's admin as the console read it until migration 10
  (the newest 200,000 records of every facility by seq, decoded, counted for the scope) and the
  data-subject export's pass over the whole log (`iter_audit`, every body parsed);
- the migration to 10 itself (the backfill of N index rows), timed;
- after: the same dashboard through `console.app._dashboard` (the facility, its province, the
  auditor's every facility) and the export's read through `audit_bodies_of`;
- the cost the index adds to one append (the chain's serial point): median `append_event` latency
  at migration 8 and at 10, one writer.

PostgreSQL: a fresh database per run, created and dropped here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import secrets
import statistics
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

AUDIT_KEY = b"bench-audit-key-0123456789abcdef"
NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
SMALL = "01001"
HOLDER = "079200000123"
OLD_SCAN = 200_000  # the console's bound before migration 10


def _facilities() -> list[str]:
    return [f"{p:02d}{n:03d}" for p in (1, 79, 48, 31, 92, 56) for n in range(1, 11)]


def _bodies(n: int, rng: random.Random) -> list[tuple[int, str, str, str]]:
    from bhytgate.audit.chain import GENESIS_HASH, AuditEvent, event_body, seal

    facilities = [f for f in _facilities() if f != SMALL]
    holder_at = set(rng.sample(range(n), 8))
    out: list[tuple[int, str, str, str]] = []
    prev = GENESIS_HASH
    span = dt.timedelta(days=7)
    for seq in range(n):
        facility = SMALL if rng.random() < 0.005 else rng.choice(facilities)
        cccd = HOLDER if seq in holder_at else f"0{rng.randrange(10**10, 10**11):011d}"[:12]
        refused = rng.random() < 0.1
        event = AuditEvent(
            verification_id=f"v-{seq}",
            at=NOW - span + span * (seq + 1) / (n + 1),
            decision="REJECTED" if refused else "ACCEPTED",
            facility=facility,
            terminal_id=f"desk-{rng.randrange(8)}",
            reasons=(),
            document_number=cccd,
            assurance_level="CHIP_FACE",
            face_distance=0.41,
            face_threshold=0.6,
        )
        entry = seal(seq, prev, event_body(event, AUDIT_KEY, seq))
        out.append((entry.seq, entry.prev_hash, entry.hash, entry.body))
        prev = entry.hash
    return out


def _open(engine: str, url: str, *, upto: int | None) -> Any:
    from bhytgate.storage import schema, sql

    sql.MIGRATIONS = tuple(m for m in schema.MIGRATIONS if upto is None or m[0] <= upto)  # type: ignore[misc]
    try:
        if engine == "postgres":
            return sql.PostgresStore(url, template_key=None)
        return sql.SqliteStore(url, template_key=None)
    finally:
        sql.MIGRATIONS = schema.MIGRATIONS  # type: ignore[misc]


def _load(store: Any, rows: list[tuple[int, str, str, str]]) -> None:
    with store._tx() as c:
        cur = c.conn.cursor()
        statement = c.d.sql("INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (?, ?, ?, ?)")
        for i in range(0, len(rows), 5000):
            cur.executemany(statement, rows[i : i + 5000])


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def _linear_dashboard(store: Any, scope: Any, hours: int) -> dict[str, int]:
    """The console before migration 10: the newest OLD_SCAN records of the log, then the scope."""
    from bhytgate.console import stats

    decisions = []
    for body in _newest_by_seq(store, OLD_SCAN):
        d = stats.decode(json.loads(body))
        if d is not None:
            decisions.append(d)
    bucket = dt.timedelta(hours=1)
    dash = stats.build(decisions, until=NOW, window=dt.timedelta(hours=hours), bucket=bucket, scope=scope)
    return dict(dash.decisions)


def _newest_by_seq(store: Any, limit: int) -> Any:
    before: int | None = None
    remaining = limit
    while remaining > 0:
        page = min(500, remaining)
        with store._read() as c:
            if before is None:
                rows = c.all("SELECT seq, body FROM audit_log ORDER BY seq DESC LIMIT ?", (page,))
            else:
                rows = c.all(
                    "SELECT seq, body FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?", (before, page)
                )
        if not rows:
            return
        for r in rows:
            yield str(r["body"])
        remaining -= len(rows)
        before = int(rows[-1]["seq"])


def _linear_export(store: Any, key: str) -> int:
    return sum(1 for e in store.iter_audit() if json.loads(e.body).get("document") == key)


def _indexed_export(store: Any, key: str) -> int:
    return sum(1 for b in store.audit_bodies_of(key) if json.loads(b).get("document") == key)


def _indexed_dashboard(store: Any, scope: Any, hours: int) -> dict[str, int]:
    from bhytgate.console.app import _dashboard

    dash, _ = _dashboard(cast(Any, types.SimpleNamespace(store=store)), scope, NOW, hours, OLD_SCAN)
    return dict(dash.decisions)


def _append_ms(store: Any, n: int) -> float:
    from bhytgate.audit.chain import AuditEvent, append_event

    times = []
    for i in range(n):
        event = AuditEvent(
            f"a-{i}-{secrets.token_hex(4)}", NOW, "ACCEPTED", SMALL, "desk-1", document_number=str(i)
        )
        t0 = time.perf_counter()
        append_event(store, event, AUDIT_KEY)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _run(engine: str, url: str, records: int, repeat: int) -> dict[str, Any]:
    from bhytgate.audit.chain import document_key, verify_chain
    from bhytgate.console import app, stats  # imported before any clock starts

    assert app._dashboard is not None

    key = document_key(AUDIT_KEY, HOLDER)
    rows = _bodies(records, random.Random(7))
    out: dict[str, Any] = {"engine": engine, "records": records}
    store = _open(engine, url, upto=8)
    t0 = time.perf_counter()
    _load(store, rows)
    out["load_s"] = round(time.perf_counter() - t0, 1)
    small = stats.Scope.of("admin", SMALL)
    for hours in (24, 168):
        times, counts = _timed(lambda h=hours: _linear_dashboard(store, small, h), repeat)
        out[f"before_dashboard_{hours}h_ms"] = [round(t) for t in times]
        out[f"before_dashboard_{hours}h_count"] = sum(counts.values())
    times, found = _timed(lambda: _linear_export(store, key), repeat)
    out["before_export_ms"], out["before_export_found"] = [round(t) for t in times], found
    out["append_at_8_ms"] = round(_append_ms(store, 300), 3)
    store.close()

    t0 = time.perf_counter()
    store = _open(engine, url, upto=None)  # migration 10: the backfill
    out["migration_10_s"] = round(time.perf_counter() - t0, 2)
    out["append_at_10_ms"] = round(_append_ms(store, 300), 3)
    scopes = {"facility": small, "province": stats.Scope.of("admin", "79000"), "auditor": stats.Scope()}
    for name, scope in scopes.items():
        for hours in (24, 168):
            times, counts = _timed(lambda s=scope, h=hours: _indexed_dashboard(store, s, h), repeat)
            out[f"after_dashboard_{name}_{hours}h_ms"] = [round(t, 1) for t in times]
            out[f"after_dashboard_{name}_{hours}h_count"] = sum(counts.values())
    times, found = _timed(lambda: _indexed_export(store, key), repeat)
    out["after_export_ms"], out["after_export_found"] = [round(t, 2) for t in times], found
    t0 = time.perf_counter()
    report = verify_chain(store.iter_audit())
    out["verify_s"], out["verify_ok"] = round(time.perf_counter() - t0, 1), report.ok
    out["verify_checked"] = report.checked
    store.close()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--name", default="audit-index")
    args = ap.parse_args(argv)
    results = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(_run("sqlite", str(Path(tmp) / "bench.db"), args.records, args.repeat))
            print(json.dumps(results[-1]), flush=True)
    if not args.no_postgres:
        import psycopg

        name = f"bench_auditidx_{secrets.token_hex(4)}"
        parts = urlsplit(args.database)
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            results.append(
                _run("postgres", urlunsplit(parts._replace(path=f"/{name}")), args.records, args.repeat)
            )
            print(json.dumps(results[-1]), flush=True)
        finally:
            with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"{args.name}-{stamp}.json"
    path.write_text(json.dumps({"results": results}, indent=1) + "\n", encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()

"""Migration 10 on a shared PostgreSQL database while other replicas keep appending: the backfill
must not hold the chain's lock (every replica's appends wait on it, and give up after the 2 s
lock timeout), and no record appended during the migration may be left out of the index."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from bhytgate.audit import AuditEvent, append_event
from bhytgate.storage import schema, sql
from bhytgate.storage.interface import StoreUnavailable
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory

KEY = b"k" * 32
RECORDS = 120_000  # a backfill of several seconds on the 2-core VM (~35 µs a record)

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_factory(pg_dsn: str, tmp_path: Any) -> Any:
    factory = StoreFactory("postgres", tmp_path, pg_dsn)
    try:
        yield factory
    finally:
        factory.close_all()


def _fill(store: Any, schema_name: str, n: int) -> None:
    """`n` records written straight into the log (a long history; their chain is not the point)."""
    import psycopg
    from psycopg import sql as pgsql

    with psycopg.connect(store._conninfo, autocommit=True) as pg:
        pg.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema_name)))
        pg.execute(
            """INSERT INTO audit_log (seq, prev_hash, hash, body)
               SELECT g, repeat('0', 64), md5(g::text) || md5('x' || g::text),
                 json_build_object('seq', g, 'action', 'verify', 'facility', '01001',
                   'at', '2026-05-04T11:00:00.000000Z', 'document', md5(g::text),
                   'decision', 'ACCEPTED')::text
               FROM generate_series(0, %s) AS g""",
            (n - 1,),
        )


def test_replicas_keep_appending_while_another_migrates(
    pg_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] <= 9))
    old = pg_factory.open()  # a replica of the release before (migration 9), still serving
    monkeypatch.setattr(sql, "MIGRATIONS", schema.MIGRATIONS)
    assert isinstance(old, SqlStore) and old.schema_version() == 9
    _fill(old, pg_factory.schema, RECORDS)

    done = threading.Event()
    waits: list[float] = []
    started: list[float] = []
    failures: list[str] = []

    def keep_appending() -> None:
        i = 0
        while not done.is_set():
            event = AuditEvent(
                f"during-{i}",
                dt.datetime.now(dt.UTC),
                "ACCEPTED",
                "79014",
                "desk-1",
                document_number="079200000123",
            )
            t0 = time.perf_counter()
            started.append(t0)
            try:
                append_event(old, event, KEY)
            except StoreUnavailable as exc:
                failures.append(str(exc))
            waits.append(time.perf_counter() - t0)
            i += 1
            time.sleep(0.01)

    appender = threading.Thread(target=keep_appending)
    appender.start()
    try:
        time.sleep(0.3)
        t0 = time.perf_counter()
        new = pg_factory.open()  # migrates 9 -> 10 with the backfill
        took = time.perf_counter() - t0
        time.sleep(0.3)
    finally:
        done.set()
        appender.join()
    assert isinstance(new, SqlStore)
    assert took > 1.0, f"the backfill took {took:.2f} s: too short to show a held lock"
    assert not failures, f"{len(failures)} appends refused during the migration: {failures[0]}"
    assert max(waits) < 0.5 * took, f"an append waited {max(waits):.2f} s of the {took:.2f} s migration"
    during = sum(1 for s in started if t0 <= s <= t0 + took)
    assert during >= 5, f"only {during} appends overlapped the migration"

    # Nothing appended before, during or after the migration is missing from the index.
    with new._read() as c:
        missing = c.one(
            """SELECT COUNT(*) AS n FROM audit_log l
               WHERE NOT EXISTS (SELECT 1 FROM audit_index i WHERE i.seq = l.seq)"""
        )
        total = c.one("SELECT COUNT(*) AS n FROM audit_log")
    assert int(total["n"]) > RECORDS + 10 and int(missing["n"]) == 0


def test_two_replicas_starting_together_migrate_once(
    pg_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] <= 9))
    old = pg_factory.open()
    monkeypatch.setattr(sql, "MIGRATIONS", schema.MIGRATIONS)
    _fill(old, pg_factory.schema, 20_000)
    opened: list[Any] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(pg_factory.open())
        except BaseException as exc:  # reported below
            errors.append(exc)

    replicas = [threading.Thread(target=start) for _ in range(3)]
    for t in replicas:
        t.start()
    for t in replicas:
        t.join()
    assert not errors and len(opened) == 3
    with opened[0]._read() as c:
        versions = [int(r["version"]) for r in c.all("SELECT version FROM schema_version")]
        rows = c.one("SELECT COUNT(*) AS n FROM audit_index")
        triggers = c.one(
            """SELECT COUNT(*) AS n FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
               JOIN pg_namespace s ON s.oid = r.relnamespace
               WHERE s.nspname = current_schema() AND r.relname = 'audit_log'
                 AND t.tgname = 'audit_index_append'"""
        )
    assert versions.count(10) == 1 and int(rows["n"]) == 20_000 and int(triggers["n"]) == 1

"""`admin audit` checks the audit index (migration 10) against the records: an index row deleted,
altered or added behind the store's back (its append-only triggers dropped first) makes the report
not ok at that seq, although the hash chain still holds. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any, cast

import pytest

from bhytgate.audit import verify_chain
from bhytgate.audit.chain import document_key
from bhytgate.audit.index import expected_row, verify_log
from bhytgate.service.admin import AdminService
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory
from .test_audit_index import HOLDER, KEY, NOW, add, offline_audit
from .test_store_contract import raw_exec

MISSING = "audit index row missing for record {} (the dashboard and the export would not find it)"


def a_log(factory: StoreFactory) -> SqlStore:
    """Seven records: verify decisions of two facilities, with and without a document, and counter
    actions, at times with and without microseconds."""
    store = factory.open()
    assert isinstance(store, SqlStore)
    add(store, "01001", NOW - dt.timedelta(hours=5), cccd=HOLDER)
    add(store, "79014", NOW - dt.timedelta(hours=4, microseconds=654321), cccd="001090000001")
    add(store, "01001", NOW - dt.timedelta(hours=3), decision="REJECTED")
    add(
        store, "01001", NOW - dt.timedelta(hours=2), cccd=HOLDER, action="consent", decision="CONSENT_GRANTED"
    )
    add(store, "01001", NOW - dt.timedelta(hours=1, microseconds=1), cccd=HOLDER, decision="REVIEW")
    add(store, "79014", NOW - dt.timedelta(minutes=30), action="load_trust", decision="TRUST_LOADED:1:0")
    add(store, "01001", NOW - dt.timedelta(minutes=1), cccd=HOLDER)
    return store


def unguard(factory: StoreFactory, store: SqlStore) -> None:
    """Drop the index's no-update/no-delete triggers, as someone with write access could."""
    if factory.kind == "sqlite":
        for name in ("audit_index_no_update", "audit_index_no_delete"):
            raw_exec(factory, store, f"DROP TRIGGER {name}")
    else:
        raw_exec(factory, store, "DROP TRIGGER audit_index_no_change ON audit_index")


def admin_service(store: SqlStore) -> AdminService:
    """The administrator's service itself, as the VerifyAuditChain RPC calls it (the parts an audit
    check does not use left out)."""
    return AdminService(
        store,
        cast(Any, None),
        cast(Any, None),
        cast(Any, None),
        cast(Any, None),
        attestation_key=cast(Any, None),
        clock=lambda: NOW,
        issuer="bhytgate-test",
    )


def check(store: SqlStore) -> tuple[bool, int, int | None, str]:
    return asyncio.run(admin_service(store).verify_audit())


def test_a_clean_log_and_its_index_verify(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    assert check(store) == (True, 7, None, "ok")
    rows = list(store.iter_audit_index())
    assert [r.seq for r in rows] == list(range(7))
    for row, entry in zip(rows, store.iter_audit(), strict=True):
        assert row == expected_row(entry.seq, entry.body)
        assert row.at is not None and row.at.tzinfo is not None and row.at.utcoffset() == dt.timedelta(0)
    assert rows[1].at == NOW - dt.timedelta(hours=4, microseconds=654321)
    assert [r.seq for r in store.iter_audit_index(5)] == [5, 6]
    assert store.audit_index_row_without_record(0) is None


def test_the_index_is_read_in_pages(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    for i in range(1203):  # three pages of 500
        add(store, "01001" if i % 2 else "79014", NOW - dt.timedelta(seconds=i))
    assert [r.seq for r in store.iter_audit_index()] == list(range(1203))
    assert check(store) == (True, 1203, None, "ok")


def test_a_deleted_index_row_is_found(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "DELETE FROM audit_index WHERE seq = 4")
    assert verify_chain(store.iter_audit()).ok  # the chain alone sees nothing
    hidden = [json.loads(b)["seq"] for b in store.audit_bodies_of(document_key(KEY, HOLDER))]
    assert hidden == [0, 3, 6]  # record 4 is the holder's too: the export would leave it out
    assert check(store) == (False, 7, 4, MISSING.format(4))


def test_the_last_index_row_deleted_is_found(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "DELETE FROM audit_index WHERE seq = 6")
    assert check(store) == (False, 7, 6, MISSING.format(6))


def test_an_altered_facility_is_found(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "UPDATE audit_index SET facility = '01002' WHERE seq = 2")
    assert check(store) == (False, 7, 2, "audit index row of record 2 differs from its record (facility)")


def test_an_altered_time_is_found(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    unguard(store_factory, store)
    moved = store._ts(NOW - dt.timedelta(days=30))  # out of the dashboard's window
    raw_exec(store_factory, store, "UPDATE audit_index SET at = ? WHERE seq = 5", (moved,))
    assert check(store) == (False, 7, 5, "audit index row of record 5 differs from its record (at)")
    raw_exec(store_factory, store, "UPDATE audit_index SET at = NULL WHERE seq = 1")
    assert check(store)[2:] == (1, "audit index row of record 1 differs from its record (at)")


def test_an_altered_action_or_document_is_found(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "UPDATE audit_index SET action = 'enrol' WHERE seq = 6")
    raw_exec(store_factory, store, "UPDATE audit_index SET document = NULL WHERE seq = 4")
    assert check(store)[2:] == (4, "audit index row of record 4 differs from its record (document)")


@pytest.mark.parametrize("seq", [7, 1000, -1])
def test_an_extra_index_row_is_found(store_factory: StoreFactory, seq: int) -> None:
    store = a_log(store_factory)  # an insert needs no trigger dropped
    raw_exec(
        store_factory,
        store,
        "INSERT INTO audit_index (seq, facility, province, document, at, action) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, "01001", "01", None, store._ts(NOW), "verify"),
    )
    assert check(store) == (False, 7, seq, f"audit index row {seq} has no record")


def test_a_broken_chain_is_reported_before_the_index(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "DELETE FROM audit_index WHERE seq = 1")
    if store_factory.kind == "sqlite":
        raw_exec(store_factory, store, "DROP TRIGGER audit_log_no_update")
    else:
        raw_exec(store_factory, store, "DROP TRIGGER audit_log_no_change ON audit_log")
    raw_exec(
        store_factory,
        store,
        "UPDATE audit_log SET body = replace(body, 'REJECTED', 'ACCEPTED') WHERE seq = 2",
    )
    report = verify_log(store)
    assert (report.ok, report.first_broken_index) == (False, 2)
    assert report.reason == "record hash does not match its body"


def test_the_offline_cli_checks_the_index(tmp_path: Path) -> None:
    """`bhytgate admin audit --offline` on a database file (SQLite only: it opens the file)."""

    store_factory = StoreFactory("sqlite", tmp_path, None)
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "DELETE FROM audit_index WHERE seq = 3")
    store.close()
    assert offline_audit(tmp_path, store) == (
        1,
        {"ok": False, "record_count": 7, "first_broken_record": 3, "detail": MISSING.format(3)},
    )
    store_factory.close_all()


def test_a_record_with_a_nul_in_its_body_does_not_make_a_healthy_log_broken(
    store_factory: StoreFactory,
) -> None:
    """PostgreSQL's jsonb refuses a NUL, so its trigger writes no row for such a body (SQLite does):
    the check takes either (review, 2026-12-02: a healthy PostgreSQL log was reported broken)."""
    from .test_audit_index import R

    store = a_log(store_factory)
    add(store, "01001", NOW, reasons=(R("CHIP_FILE_MALFORMED", "DG1: a\x00b"),))
    add(store, "01001", NOW + dt.timedelta(seconds=1))
    has_row = [r.seq for r in store.iter_audit_index()][-2:] == [7, 8]
    assert has_row == (store_factory.kind == "sqlite")
    assert check(store) == (True, 9, None, "ok")
    # The records around it are still judged: the next one's row deleted is still found.
    unguard(store_factory, store)
    raw_exec(store_factory, store, "DELETE FROM audit_index WHERE seq = 8")
    assert check(store) == (False, 9, 8, MISSING.format(8))


INSERT_ROW = (
    "INSERT INTO audit_index (seq, facility, province, document, at, action) VALUES (?, ?, ?, ?, ?, ?)"
)


def _far(store_factory: StoreFactory) -> object:
    """An index time no Python datetime holds: beyond year 9999 (SQLite's integer microseconds,
    PostgreSQL's 'infinity')."""
    return 2**62 if store_factory.kind == "sqlite" else "infinity"


def test_an_index_time_beyond_pythons_range_is_reported_not_raised(store_factory: StoreFactory) -> None:
    """Attack run 2026-12-02: an index row whose `at` no datetime can hold made the check raise
    (OverflowError; psycopg's DataError), so VerifyAuditChain was INTERNAL and `admin audit
    --offline` a traceback, instead of a report naming the row."""
    store = a_log(store_factory)
    unguard(store_factory, store)
    raw_exec(store_factory, store, "UPDATE audit_index SET at = ? WHERE seq = 5", (_far(store_factory),))
    assert check(store) == (False, 7, 5, "audit index row of record 5 differs from its record (at)")
    raw_exec(
        store_factory,
        store,
        INSERT_ROW,
        (1000, "01001", "01", None, _far(store_factory), "verify"),
    )
    assert check(store) == (False, 7, 5, "audit index row of record 5 differs from its record (at)")


def test_an_orphan_index_row_with_an_unreadable_time_is_found(store_factory: StoreFactory) -> None:
    store = a_log(store_factory)
    raw_exec(
        store_factory,
        store,
        INSERT_ROW,
        (1000, "01001", "01", None, _far(store_factory), "verify"),
    )
    assert check(store) == (False, 7, 1000, "audit index row 1000 has no record")
    if store_factory.kind == "sqlite":  # SQLite keeps whatever is inserted, a text too
        raw_exec(
            store_factory,
            store,
            INSERT_ROW,
            (999, "01001", "01", None, "garbage", "verify"),
        )
        assert check(store) == (False, 7, 999, "audit index row 999 has no record")


def test_a_record_dated_year_zero_does_not_break_the_check(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    """A chained record whose `at` has the chain's form but year 0: SQLite's trigger indexes a time
    before datetime.min, PostgreSQL's none. Neither engine's row can be predicted, so it is not
    judged; the log verifies (and the offline command answers with a report)."""
    from bhytgate.audit.chain import seal

    store = a_log(store_factory)
    body = json.loads(next(store.iter_audit(6)).body)
    body["at"] = "0000-01-01T00:00:00.000000Z"
    store.append_audit(lambda seq, prev: seal(seq, prev, {**body, "seq": seq}))
    assert check(store) == (True, 8, None, "ok")
    if store_factory.kind == "sqlite":
        store.close()
        assert offline_audit(tmp_path, store) == (
            0,
            {"ok": True, "record_count": 8, "first_broken_record": None, "detail": "ok"},
        )


def test_the_offline_cli_refuses_what_is_not_a_gateway_log(tmp_path: Path) -> None:
    """Attack run 2026-12-02: `admin audit --offline` opened the store, which creates and migrates
    its database: a mistyped --database (or an empty file, or an SQLite file of something else) was
    turned into an empty gateway database and reported as a verified chain of 0 records; a file
    that is not a database gave a traceback. Each now exits 2 with one line, the file untouched."""
    import sqlite3

    from click.testing import CliRunner

    from bhytgate_clients.cli.admin import admin

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    conn.close()
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "junk.db").write_bytes(b"not a database " * 400)
    cases = {
        "missing.db": "no gateway database at",
        "empty.db": "no gateway database at",
        "junk.db": "is not an SQLite database",
        "other.db": "is not a gateway database (it has no audit log)",
    }
    for name, message in cases.items():
        path = tmp_path / name
        before = path.read_bytes() if path.exists() else None
        done = CliRunner().invoke(
            admin, ["audit", "--offline", "--home", str(tmp_path), "--database", f"sqlite:///{path}"]
        )
        assert done.exit_code == 2, (name, done.output)
        assert done.exception is None or isinstance(done.exception, SystemExit), name
        assert message in done.output and "Traceback" not in done.output, (name, done.output)
        assert (path.read_bytes() if path.exists() else None) == before, name


def test_abandoned_audit_checks_do_not_hold_the_storage_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack run 2026-12-02: VerifyAuditChain ran in the default thread pool, which every storage
    call of a check-in uses (6 threads on 2 cores); a deadline does not stop the thread, so eight
    calls with a 50 ms deadline on a 150,000-record log made a BeginVerification wait 22 s. The
    checks now run one at a time on a thread of their own; a caller gone before its turn runs none."""
    import threading
    import time

    from bhytgate.service import admin as admin_module

    store = a_log(StoreFactory("sqlite", tmp_path, None))
    started: list[int] = []
    release = threading.Event()

    def slow(log: Any) -> Any:
        started.append(1)
        release.wait(5)
        return verify_log(log)

    monkeypatch.setattr(admin_module, "verify_log", slow)
    service = admin_service(store)

    async def scenario() -> float:
        calls = [asyncio.ensure_future(asyncio.wait_for(service.verify_audit(), 0.05)) for _ in range(8)]
        await asyncio.gather(*calls, return_exceptions=True)  # every caller has given up
        t0 = time.monotonic()
        await asyncio.to_thread(lambda: None)  # what a check-in's storage call waits for
        waited = time.monotonic() - t0
        release.set()
        return waited

    waited = asyncio.run(scenario())
    assert waited < 0.5
    assert len(started) == 1
    assert asyncio.run(service.verify_audit()) == (True, 7, None, "ok")


def test_the_offline_cli_refuses_a_postgresql_database_without_the_gateways_schema(
    tmp_path: Path, pg_dsn: str
) -> None:
    """Attack run 2026-12-02: `admin audit --offline --database postgresql://…/other` created the
    schema `bhytgate` and its 26 tables in that database and reported a verified chain of 0."""
    import secrets

    import psycopg
    from click.testing import CliRunner

    from bhytgate_clients.cli.admin import admin

    name = f"bhytgate_test_empty_{secrets.token_hex(4)}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        params = psycopg.conninfo.conninfo_to_dict(pg_dsn)
        user, host, port = params.get("user", "postgres"), params["host"], params.get("port", 5432)
        url = f"postgresql://{user}@{host}:{port}/{name}"
        done = CliRunner().invoke(admin, ["audit", "--offline", "--home", str(tmp_path), "--database", url])
        assert done.exit_code == 2, done.output
        assert "has no gateway schema" in done.output
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regnamespace('bhytgate')").fetchone() == (None,)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

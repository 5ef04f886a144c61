"""The audit index (migration 10): the dashboard and the data-subject export find their records by
facility, time and pseudonym, for records appended before the migration too, without rewriting
one. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import types
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from bhytgate.audit import AuditEvent, append_event, verify_chain
from bhytgate.audit.chain import document_key
from bhytgate.console import stats
from bhytgate.console.app import _dashboard
from bhytgate.privacy.policy import PrivacyConfig
from bhytgate.service.privacy import PrivacyService
from bhytgate.storage import schema, sql
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory
from .test_store_contract import raw_exec

KEY = b"k" * 32
NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
HOLDER = "079200000123"


@dataclasses.dataclass(frozen=True)
class R:
    code: str
    detail: str = ""


def add(
    store: Any,
    facility: str,
    at: dt.datetime,
    *,
    cccd: str | None = None,
    decision: str = "ACCEPTED",
    action: str = "verify",
    reasons: tuple[R, ...] = (),
) -> None:
    n = store.audit_head()[0]
    event = AuditEvent(
        verification_id=f"v-{n}",
        at=at,
        decision=decision,
        facility=facility,
        terminal_id=f"desk-{facility}",
        reasons=reasons,
        action=action,
        document_number=cccd,
    )
    append_event(store, event, KEY)


def offline_audit(home: Path, store: SqlStore) -> tuple[int, dict[str, Any]]:
    """`bhytgate admin audit --offline` on a closed SQLite store's file: exit status and report."""
    from bhytgate_clients.cli.admin import admin

    done = CliRunner().invoke(
        admin, ["audit", "--offline", "--home", str(home), "--database", f"sqlite:///{store._path}"]
    )
    return done.exit_code, json.loads(done.output)


def chain(store: Any) -> list[tuple[int, str, str, str]]:
    return [(e.seq, e.prev_hash, e.hash, e.body) for e in store.iter_audit()]


def index_rows(store: SqlStore) -> list[dict[str, Any]]:
    with store._read() as c:
        return [dict(r) for r in c.all("SELECT * FROM audit_index ORDER BY seq")]


def counted(
    store: SqlStore, scope: stats.Scope, *, hours: int = 24, limit: int
) -> tuple[dict[str, int], bool]:
    """What the console's dashboard counts for `scope` (its own function, on a real store)."""
    gateway = cast(Any, types.SimpleNamespace(store=store))
    dash, truncated = _dashboard(gateway, scope, NOW, hours, limit)
    return dict(dash.decisions), truncated


def open_at_8(factory: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> SqlStore:
    """A database as a release at migration 8 left it (no audit index)."""
    monkeypatch.setattr(sql, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] <= 8))
    store = factory.open()
    monkeypatch.setattr(sql, "MIGRATIONS", schema.MIGRATIONS)
    assert isinstance(store, SqlStore) and store.schema_version() == 8
    assert not store.has_column("audit_index", "seq")
    return store


# -- the dashboard ----------------------------------------------------------------------------------


def test_a_small_facility_counts_its_records_behind_the_newest_of_others(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    for i in range(5):  # 20 h ago: the small facility's morning
        add(store, "01001", NOW - dt.timedelta(hours=20, minutes=i), decision="REJECTED" if i else "ACCEPTED")
    for i in range(60):  # since then, a busy facility of another province: more than the bound
        add(store, "79014", NOW - dt.timedelta(hours=2, seconds=i))
    add(store, "01001", NOW - dt.timedelta(hours=30))  # outside the 24 h window
    add(store, "01001", NOW - dt.timedelta(hours=1), action="enrol", decision="ENROLLED")  # not a decision

    own, truncated = counted(store, stats.Scope.of("admin", "01001"), limit=50)
    assert own == {"ACCEPTED": 1, "REJECTED": 4} and not truncated
    assert counted(store, stats.Scope.of("admin", "01001"), hours=168, limit=50)[0] == {
        "ACCEPTED": 2,
        "REJECTED": 4,
    }
    # A provincial office (code ending 000) counts its province; the auditor every facility, up to the bound.
    assert counted(store, stats.Scope.of("admin", "79000"), limit=100) == ({"ACCEPTED": 60}, False)
    assert counted(store, stats.Scope.of("admin", "01000"), limit=100) == (
        {"ACCEPTED": 1, "REJECTED": 4},
        False,
    )
    assert counted(store, stats.Scope.of("auditor", "00000"), limit=100) == (
        {"ACCEPTED": 61, "REJECTED": 4},
        False,
    )
    # an auditor certificate of a hospital counts that hospital only (national is the fund's)
    assert counted(store, stats.Scope.of("auditor", "01001"), limit=100) == (
        {"ACCEPTED": 1, "REJECTED": 4},
        False,
    )
    everyone, truncated = counted(store, stats.Scope.of("auditor", "00000"), limit=50)
    assert truncated and sum(everyone.values()) == 50 and everyone == {"ACCEPTED": 50}  # the newest 50


def test_dashboard_pages_through_ties_without_losing_or_repeating_a_record(
    store_factory: StoreFactory,
) -> None:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    moments = [NOW - dt.timedelta(minutes=m) for m in (5, 5, 5, 9)]
    for i in range(1100):  # pages of 500 that end inside a run of equal times
        add(store, "01001", moments[i % 4])
    bodies = list(store.audit_decisions(NOW - dt.timedelta(hours=1), NOW, facility="01001", limit=10_000))
    seqs = [json.loads(b)["seq"] for b in bodies]
    assert sorted(seqs) == list(range(1100))
    ats = [json.loads(b)["at"] for b in bodies]
    assert ats == sorted(ats, reverse=True)  # newest first
    assert len(list(store.audit_decisions(NOW - dt.timedelta(hours=1), NOW, limit=777))) == 777
    with pytest.raises(ValueError, match="not both"):
        next(store.audit_decisions(NOW, NOW, facility="01001", province="01", limit=1))


# -- records written before migration 10 ------------------------------------------------------------


def test_records_before_migration_10_are_indexed_and_the_chain_is_untouched(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = open_at_8(store_factory, monkeypatch)
    holder = document_key(KEY, HOLDER)
    add(old, "01001", NOW - dt.timedelta(days=400), cccd=HOLDER)  # a year and more ago
    add(old, "79014", NOW - dt.timedelta(hours=3), cccd="001090000001")
    add(
        old,
        "01001",
        NOW - dt.timedelta(hours=3, microseconds=654321),
        cccd=HOLDER,
        decision="REVIEW",
        reasons=(R("FRAUD_VELOCITY"),),
    )
    add(old, "01001", NOW - dt.timedelta(hours=2), cccd=HOLDER, action="consent", decision="CONSENT_GRANTED")
    add(old, "01001", NOW - dt.timedelta(hours=1))  # no document
    before = chain(old)
    old.close()

    store = store_factory.open()  # migrates 8 -> 10: the backfill
    assert isinstance(store, SqlStore)
    assert 10 in {int(r["version"]) for r in _versions(store)}
    assert chain(store) == before  # no record rewritten, no hash changed
    add(store, "01001", NOW - dt.timedelta(minutes=30), cccd=HOLDER)  # and one after
    report = verify_chain(store.iter_audit())
    assert report.ok and report.checked == 6, report

    # Each row says what its body says (the backfill's SQL and the trigger agree with Python's reading).
    rows = index_rows(store)
    assert [r["seq"] for r in rows] == list(range(6))
    for row, (_, _, _, body) in zip(rows, chain(store), strict=True):
        b = json.loads(body)
        assert row["facility"] == b["facility"] and row["province"] == b["facility"][:2]
        assert row["document"] == b["document"] and row["action"] == b["action"]
        at = dt.datetime.fromisoformat(b["at"].replace("Z", "+00:00"))
        assert store._from_ts(row["at"]) == at

    found = [json.loads(b) for b in store.audit_bodies_of(holder)]
    assert [b["seq"] for b in found] == [0, 2, 3, 5]  # old and new, in chain order
    assert list(store.audit_bodies_of(document_key(KEY, "001090000001"))) == [before[1][3]]
    assert list(store.audit_bodies_of("0" * 64)) == []

    # The export document itself (the service's own collection, on this store).
    privacy = PrivacyService(
        PrivacyConfig(),
        store,
        cast(Any, None),
        cast(Any, None),
        audit_key=KEY,
        clock=lambda: NOW,
        session_ttl=dt.timedelta(hours=1),
    )
    exported = privacy._collect(HOLDER)
    assert [d["seq"] for d in exported["decisions"]] == [0, 2, 3, 5]
    assert all("document" not in d for d in exported["decisions"])

    # The dashboard counts the old decisions of the window too.
    assert counted(store, stats.Scope.of("admin", "01001"), limit=10)[0] == {"REVIEW": 1, "ACCEPTED": 2}

    if store_factory.kind == "sqlite":  # `bhytgate admin audit --offline` on that very file
        store.close()
        assert offline_audit(tmp_path, store) == (
            0,
            {"ok": True, "record_count": 6, "first_broken_record": None, "detail": "ok"},
        )


def _versions(store: SqlStore) -> list[Any]:
    with store._read() as c:
        return list(c.all("SELECT version FROM schema_version"))


def test_a_body_the_index_cannot_read_does_not_stop_the_migration(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = open_at_8(store_factory, monkeypatch)
    add(old, "01001", NOW, cccd=HOLDER)
    h = chain(old)[-1][2]
    raw_exec(
        store_factory,
        old,
        "INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (1, ?, ?, 'not json')",
        (h, "a" * 64),
    )
    raw_exec(
        store_factory,
        old,
        "INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (3, ?, ?, '[1]')",
        ("b" * 64, "c" * 64),
    )
    other_time = json.dumps(
        {"seq": 2, "facility": "01001", "at": "2026-05-04 12:00:00+07:00", "document": "x"}
    )
    raw_exec(
        store_factory,
        old,
        "INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (2, ?, ?, ?)",
        ("a" * 64, "b" * 64, other_time),
    )
    old.close()
    store = store_factory.open()
    assert isinstance(store, SqlStore) and 10 in {int(r["version"]) for r in _versions(store)}
    rows = index_rows(store)
    assert [(r["seq"], r["at"] is None) for r in rows] == [(0, False), (2, True)]  # no row; no time
    assert rows[1]["document"] == "x" and rows[1]["action"] == "verify"


def test_the_index_is_append_only_too(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    add(store, "01001", NOW, cccd=HOLDER)
    for statement in ("UPDATE audit_index SET facility = '79014'", "DELETE FROM audit_index"):
        with pytest.raises(Exception, match="append-only"):
            raw_exec(store_factory, store, statement)
    assert index_rows(store)[0]["facility"] == "01001"


# -- migration numbers with a gap -------------------------------------------------------------------


def test_a_migration_numbered_below_an_applied_one_still_applies(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numbers are given out per change: a database at 10 may meet 9 only later (as one created
    from the audit-index branch, merged before the claims branch, did)."""
    monkeypatch.setattr(sql, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] != 9))
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    versions = {int(r["version"]) for r in _versions(store)}
    assert 10 in versions and 9 not in versions and not store.has_column("claimed_checkins", "run_id")
    store.close()
    monkeypatch.setattr(sql, "MIGRATIONS", schema.MIGRATIONS)
    again = store_factory.open()
    assert isinstance(again, SqlStore) and again.has_column("claimed_checkins", "run_id")
    assert 9 in {int(r["version"]) for r in _versions(again)}
    again.close()
    assert store_factory.open().has_column("claimed_checkins", "run_id")  # once, not again

"""Claimed check-ins on both engines: one claim per check-in, the first kept, also under a race
between two stores (two connections, two threads), and across whole reconciliations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bhytgate.checkin.keys import CheckinKeys
from bhytgate.claims.match import Status
from bhytgate.claims.service import Reconciliation
from bhytgate.storage.checkins import StoredCheckin
from bhytgate.storage.claims import Claim
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.claims_gen import VIETNAM, Visit, claims_bytes  # noqa: E402

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
KEYS = CheckinKeys(b"k" * 32)


def put(store: SqlStore, vid: str, at: dt.datetime = T0, cccd: str = "001085012345") -> None:
    row = StoredCheckin(
        vid,
        "a" * 64,
        "01001",
        "desk-01",
        at,
        "chip_face",
        KEYS.cccd(cccd),
        KEYS.card("DN4010123456789"),
        None,
    )
    store.put_checkin(row, b"<x/>", at + 7 * DAY, at + 400 * DAY)


def claim(vid: str, dossier: str, index: int = 1, run: str = "run-a") -> Claim:
    return Claim(vid, dossier, "visit-" + dossier, "01001", index, run, None, T0)


@pytest.fixture
def sql_store(store_factory: StoreFactory) -> SqlStore:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    return store


def test_the_first_claim_of_a_check_in_is_kept_and_named_by_its_file_once_done(sql_store: SqlStore) -> None:
    store = sql_store
    assert store.schema_version() >= 9
    put(store, "v1")
    put(store, "v2")
    assert store.claims_on(["v1", "v2"]) == {}
    held = store.claim_checkins([claim("v1", "d-a"), claim("v2", "d-a", 2)])
    assert held == {"v1": claim("v1", "d-a"), "v2": claim("v2", "d-a", 2)}
    # another dossier (another file) claiming v1 gets the first claim back, nothing changes
    again = store.claim_checkins([claim("v1", "d-b", 7, run="run-b")])
    assert again == {"v1": claim("v1", "d-a")}
    assert store.finish_claims("run-a", "f" * 64) == 2
    assert store.finish_claims("run-a", "e" * 64) == 0  # set once
    assert store.claims_on(["v1", "nope"]) == {
        "v1": dataclasses.replace(claim("v1", "d-a"), file_sha256="f" * 64)
    }
    # a check-in that is not (or no longer) stored is not claimed
    assert store.claim_checkins([claim("gone", "d-a")]) == {}
    assert store.claims_on([f"x{i}" for i in range(4500)] + ["v2"]).keys() == {"v2"}  # many keys


def test_a_claim_lives_as_long_as_its_check_in(sql_store: SqlStore) -> None:
    store = sql_store
    put(store, "v1")
    store.claim_checkins([claim("v1", "d-a")])
    assert store.purge_checkins(T0 + 8 * DAY) == (1, 0)  # the record goes, row and claim stay
    assert store.claims_on(["v1"]) != {}
    assert store.purge_checkins(T0 + 401 * DAY) == (0, 1)
    assert store.claims_on(["v1"]) == {}


def test_two_stores_claiming_one_check_in_at_once_keep_exactly_one(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stores (two connections, as two replicas have): A has inserted its claim and not
    committed; B's claim waits for A (PostgreSQL: the primary key's index; SQLite: the write lock),
    then does nothing, and both read back A's claim."""
    a, b = store_factory.open(), store_factory.open()
    assert isinstance(a, SqlStore) and isinstance(b, SqlStore)
    put(a, "v1")
    inserted, go = threading.Event(), threading.Event()
    holders = a._holders

    def after_insert(c: Any, vids: Any) -> dict[str, Claim]:
        inserted.set()
        assert go.wait(10)
        return holders(c, vids)

    monkeypatch.setattr(a, "_holders", after_insert)
    results: dict[str, dict[str, Claim]] = {}
    ta = threading.Thread(target=lambda: results.update(a=a.claim_checkins([claim("v1", "d-a")])))
    ta.start()
    assert inserted.wait(10)
    tb = threading.Thread(
        target=lambda: results.update(b=b.claim_checkins([claim("v1", "d-b", run="run-b")]))
    )
    tb.start()
    time.sleep(0.5)
    assert tb.is_alive()  # B waits on A's open transaction
    go.set()
    ta.join(10)
    tb.join(10)
    assert results["a"]["v1"] == results["b"]["v1"] == claim("v1", "d-a")
    assert b.claims_on(["v1"])["v1"].dossier_key == "d-a"


def _race(
    a: SqlStore, b: SqlStore, order: list[str]
) -> tuple[dict[str, dict[str, Claim]], list[BaseException]]:
    """A claims `order` and B the reverse, each in one call, started together."""
    barrier = threading.Barrier(2)
    told: dict[str, dict[str, Claim]] = {}
    failed: list[BaseException] = []

    def run(name: str, store: SqlStore, mine: list[str]) -> None:
        barrier.wait(10)
        try:
            told[name] = store.claim_checkins([claim(v, "d-" + name, run="run-" + name) for v in mine])
        except BaseException as exc:  # reported by the main thread
            failed.append(exc)

    threads = [
        threading.Thread(target=run, args=("a", a, order)),
        threading.Thread(target=run, args=("b", b, order[::-1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return told, failed


def test_two_threads_racing_over_many_check_ins_agree_on_every_holder(store_factory: StoreFactory) -> None:
    """Two stores claim the same 300 check-ins at once, each in one transaction, in opposite
    orders (five rounds): every check-in ends with one holder, the one both were told. Claims are
    written in key order, so the two transactions wait for each other instead of deadlocking."""
    a, b = store_factory.open(), store_factory.open()
    assert isinstance(a, SqlStore) and isinstance(b, SqlStore)
    for round_ in range(5):
        vids = [f"v{round_}-{i:03d}" for i in range(300)]
        for vid in vids:
            put(a, vid)
        order = vids[:]
        random.Random(round_).shuffle(order)
        told, failed = _race(a, b, order)
        assert failed == []
        final = a.claims_on(vids)
        assert final.keys() == set(vids)
        assert told["a"] == told["b"] == final
        assert {c.dossier_key for c in final.values()} <= {"d-a", "d-b"}


def _visit(ma_lk: str, minutes: int) -> Visit:
    arrival = (T0 + dt.timedelta(minutes=minutes)).astimezone(VIETNAM)
    return Visit(ma_lk, "001085012345", "DN4010123456789", arrival, "01001", amount="100000")


def test_two_replicas_reconciling_two_files_at_once_keep_the_check_in_once(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File A's reconciliation has looked up the claims (none) when file B's, on another store,
    claims the check-in and finishes; A's insert then finds B's claim: A's dossier is `duplicate`
    naming B's, not a second `verified`."""
    a, b = store_factory.open(), store_factory.open()
    assert isinstance(a, SqlStore) and isinstance(b, SqlStore)
    put(a, "v" * 32)
    looked, b_done = threading.Event(), threading.Event()
    claims_on = a.claims_on

    def then_wait(vids: Any) -> dict[str, Claim]:
        held = claims_on(vids)
        looked.set()
        assert b_done.wait(20)
        return held

    monkeypatch.setattr(a, "claims_on", then_wait)
    file_a = claims_bytes("01001", [_visit("LK-A", 10)])
    file_b = claims_bytes("01001", [_visit("LK-B", 20)])
    window = dt.timedelta(hours=4)
    job_a = Reconciliation(a, KEYS, window=window, facility="01001")
    out_a: list[Any] = []
    thread = threading.Thread(target=lambda: out_a.extend(job_a.feed(file_a) + job_a.close()))
    thread.start()
    assert looked.wait(20)
    job_b = Reconciliation(b, KEYS, window=window, facility="01001")
    out_b = job_b.feed(file_b) + job_b.close()
    b_done.set()
    thread.join(20)
    assert [(o.status, o.verification_id) for o in out_b] == [(Status.VERIFIED, "v" * 32)]
    assert [(o.status, o.verification_id) for o in out_a] == [(Status.DUPLICATE, "v" * 32)]
    assert out_a[0].reason == (
        f"its check-in already verifies dossier 1 of facility 01001's file sha256:{job_b.file_sha256[:16]}"
        f" (reconciled {a.claims_on(['v' * 32])['v' * 32].claimed_at:%Y-%m-%d %H:%M} UTC)"
    )
    assert job_a.summary.counts[Status.DUPLICATE] == 1 and job_a.summary.counts[Status.VERIFIED] == 0


def test_a_database_at_migration_8_with_check_ins_upgrades_and_claims_them(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster's database created before migration 9, holding check-ins: the upgrade adds the
    table, the old check-ins can be claimed, and the purge still drops them (with their claims)."""
    from bhytgate.storage import schema, sql

    monkeypatch.setattr(sql, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] < 9))
    old = store_factory.open()
    assert isinstance(old, SqlStore) and old.schema_version() == 8
    put(old, "v-old")
    old.close()
    monkeypatch.setattr(sql, "MIGRATIONS", schema.MIGRATIONS)
    store = store_factory.open()
    assert isinstance(store, SqlStore) and store.schema_version() >= 9
    assert store.claim_checkins([claim("v-old", "d-a")]) == {"v-old": claim("v-old", "d-a")}
    assert store.purge_checkins(T0 + 401 * DAY) == (1, 1)
    assert store.claims_on(["v-old"]) == {}


def test_a_check_in_purged_while_it_is_being_claimed_is_not_claimed_and_no_error(
    store_factory: StoreFactory,
) -> None:
    """The purge (another replica) has deleted the check-in and not committed when a claim of it
    starts: PostgreSQL's foreign key check waits for the purge, then finds the row gone. That is
    no claim (as for a check-in purged before), not an integrity error (INTERNAL on the wire)."""
    a, b = store_factory.open(), store_factory.open()
    assert isinstance(a, SqlStore) and isinstance(b, SqlStore)
    put(a, "v1")
    put(a, "v2")
    told: list[dict[str, Claim]] = []
    failed: list[BaseException] = []

    def claim_both() -> None:
        try:
            told.append(b.claim_checkins([claim("v1", "d-b"), claim("v2", "d-b", 2)]))
        except BaseException as exc:  # reported by the main thread
            failed.append(exc)

    with a._tx() as c:
        c.execute("DELETE FROM checkins WHERE verification_id = ?", ("v1",))
        thread = threading.Thread(target=claim_both)
        thread.start()
        time.sleep(0.5)
    thread.join(20)
    assert failed == [] and told == [{"v2": claim("v2", "d-b", 2)}]

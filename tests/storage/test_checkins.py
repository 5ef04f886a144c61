"""Verified check-ins on both engines: pseudonymous rows, the sealed record, retention."""

from __future__ import annotations

import datetime as dt

import pytest

from bhytgate.storage import Store, TemplateIntegrityError
from bhytgate.storage.checkins import StoredCheckin
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
XML = "<HO_TEN>NGUYỄN VĂN AN</HO_TEN><SO_CCCD>001085012345</SO_CCCD>".encode()


def row(vid: str, at: dt.datetime, cccd_key: str = "c1", card_key: str | None = "k1") -> StoredCheckin:
    return StoredCheckin(vid, "att-" + vid, "01001", "desk-01", at, "chip_face", cccd_key, card_key, None)


def test_rows_are_found_by_pseudonym_and_time(store: Store) -> None:
    assert isinstance(store, SqlStore)
    assert store.schema_version() >= 5
    store.put_checkin(row("v1", T0), XML, T0 + 7 * DAY, T0 + 400 * DAY)
    store.put_checkin(row("v2", T0 + DAY, cccd_key="c2", card_key="k1"), XML, T0 + 7 * DAY, T0 + 400 * DAY)
    store.put_checkin(row("v3", T0, cccd_key="c3", card_key=None), XML, T0 + 7 * DAY, T0 + 400 * DAY)
    found = store.checkins_of(["c1"], [], T0 - DAY, T0 + DAY)
    assert [r.verification_id for r in found] == ["v1"] and found[0] == row("v1", T0)
    both = store.checkins_of(["c1", "c3"], ["k1"], T0 - DAY, T0 + 2 * DAY)
    assert [r.verification_id for r in both] == ["v1", "v3", "v2"]
    assert store.checkins_of(["c1"], ["k1"], T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(hours=1)) == []
    assert store.checkins_of([], [], T0 - DAY, T0 + DAY) == []
    many = [f"x{i}" for i in range(4500)] + ["c2"]  # more keys than one IN list takes
    assert [r.verification_id for r in store.checkins_of(many, [], T0, T0 + 2 * DAY)] == ["v2"]


def test_the_record_is_sealed_bound_to_its_row_and_kept_only_its_time(store: Store) -> None:
    assert isinstance(store, SqlStore)
    store.put_checkin(row("v1", T0), XML, T0 + 7 * DAY, T0 + 400 * DAY)
    store.put_checkin(row("v2", T0), b"<other/>", T0 + 7 * DAY, T0 + 400 * DAY)
    sealed = store.checkin_record("v1", T0 + DAY)
    assert sealed is not None and sealed.xml == XML and sealed.facility == "01001"
    assert sealed.attestation_id == "att-v1" and sealed.expires_at == T0 + 7 * DAY
    assert store.checkin_record("v1", T0 + 7 * DAY) is None  # expired: never returned, purged or not
    assert store.checkin_record("nope", T0) is None
    # the sealed blob of one row moved to another does not open
    with store._tx() as c:
        blob = c.one("SELECT record_nonce, record_sealed FROM checkins WHERE verification_id = 'v2'")
        c.execute(
            "UPDATE checkins SET record_nonce = ?, record_sealed = ? WHERE verification_id = 'v1'",
            (bytes(blob["record_nonce"]), bytes(blob["record_sealed"])),
        )
    with pytest.raises(TemplateIntegrityError):
        store.checkin_record("v1", T0 + DAY)
    # nothing personal in clear in the table
    with store._read() as c:
        rows = c.all("SELECT * FROM checkins")
    dump = repr([dict(r) for r in rows]).encode()
    assert b"001085012345" not in dump and "NGUYỄN".encode() not in dump


def test_purge_drops_expired_records_then_rows(store: Store) -> None:
    assert isinstance(store, SqlStore)
    store.put_checkin(row("v1", T0), XML, T0 + 7 * DAY, T0 + 400 * DAY)
    assert store.purge_checkins(T0 + 6 * DAY) == (0, 0)
    assert store.purge_checkins(T0 + 8 * DAY) == (1, 0)
    with store._read() as c:
        left = c.one("SELECT record_sealed FROM checkins WHERE verification_id = 'v1'")
    assert left["record_sealed"] is None
    assert [r.verification_id for r in store.checkins_of(["c1"], [], T0, T0)] == ["v1"]  # still matchable
    assert store.purge_checkins(T0 + 401 * DAY) == (0, 1)
    assert store.checkins_of(["c1"], [], T0, T0) == []


def test_a_reopened_store_keeps_migration_5(store_factory: StoreFactory) -> None:
    first = store_factory.open()
    assert isinstance(first, SqlStore)
    first.put_checkin(row("v1", T0), XML, T0 + 7 * DAY, T0 + 400 * DAY)
    again = store_factory.open()
    assert isinstance(again, SqlStore)
    assert again.schema_version() == first.schema_version()
    assert again.checkin_record("v1", T0) is not None

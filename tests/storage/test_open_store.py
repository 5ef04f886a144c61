"""The store factory and SQLite-specific guards."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bhytgate.storage import SqliteStore, open_store
from bhytgate.storage.schema import MIGRATIONS

KEY = b"\x07" * 32


def test_open_store_sqlite_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", template_key=KEY)
    try:
        assert isinstance(store, SqliteStore) and store.schema_version() >= 2
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        # Every migration once, in order (branches number theirs ahead: versions may skip).
        assert versions == sorted(v for v, _ in MIGRATIONS)
    finally:
        conn.close()


def test_memory_database_and_bad_key_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStore(":memory:", template_key=KEY)
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "b.db", template_key=b"short")


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.db", template_key=KEY)
    store.close()
    with pytest.raises(RuntimeError):
        store.is_reported_lost("x")

"""The `store` fixture: every contract test runs against SQLite and, when reachable, PostgreSQL.

PostgreSQL: BHYTGATE_TEST_PG_DSN (default host=127.0.0.1 port=5432 dbname=test user=postgres). Each test
gets a fresh schema named after this run, dropped afterwards (and any leftovers of the run at the end).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhytgate.storage import SqliteStore, Store

PG_DSN = os.environ.get("BHYTGATE_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
RUN_ID = secrets.token_hex(4)
TEMPLATE_KEY = bytes(range(32))


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg", reason="psycopg not installed")
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_DSN!r}: {exc.__class__.__name__}")
    yield PG_DSN
    from psycopg import sql

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"bhytgate_test_{RUN_ID}_%",)
        ).fetchall()
        for (name,) in rows:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class StoreFactory:
    """Opens (and re-opens) stores of one backend on one database, for migration and key tests."""

    def __init__(self, kind: str, tmp_path: Path, dsn: str | None) -> None:
        self.kind = kind
        self._path = tmp_path / "gate.db"
        self._dsn = dsn
        self.schema = f"bhytgate_test_{RUN_ID}_{secrets.token_hex(4)}"
        self._opened: list[Store] = []

    def open(self, template_key: bytes = TEMPLATE_KEY) -> Store:
        store: Store
        if self.kind == "sqlite":
            store = SqliteStore(self._path, template_key=template_key)
        else:
            from bhytgate.storage.postgres import PostgresStore

            assert self._dsn is not None
            store = PostgresStore(self._dsn, template_key=template_key, schema=self.schema)
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for s in self._opened:
            s.close()
        if self.kind == "postgres" and self._dsn is not None:
            drop_schema(self._dsn, self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else None
    factory = StoreFactory(request.param, tmp_path, dsn)
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory.open()

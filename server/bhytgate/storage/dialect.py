"""What differs between SQLite and PostgreSQL, and nothing else: connections, types, placeholders,
timestamps, and which driver errors mean "the database is unavailable".

`SqlStore` writes its statements once, with `?` placeholders and `{type}` slots in DDL; the dialect
turns them into what its engine wants.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from typing import Any, Protocol

from bhytgate.storage._codec import aware, from_us, to_us


class Dialect(Protocol):
    name: str
    types: dict[str, str]
    unavailable: tuple[type[BaseException], ...]
    integrity: tuple[type[BaseException], ...]

    def connect(self) -> Any: ...

    def sql(self, statement: str) -> str: ...

    def begin(self, write: bool) -> str: ...

    def ts(self, value: dt.datetime) -> Any: ...

    def from_ts(self, value: Any) -> dt.datetime: ...

    def from_json(self, value: Any) -> Any: ...

    def greatest(self) -> str: ...

    def describe(self, exc: BaseException) -> str: ...

    def is_unavailable(self, exc: BaseException) -> bool: ...

    def prepare_migration(self, tx: Any) -> None: ...


class SqliteDialect:
    """WAL mode, one connection per thread, writers take the lock at BEGIN (BEGIN IMMEDIATE).

    Timestamps are integer microseconds since the epoch (UTC), so comparisons are exact."""

    name = "sqlite"
    types = {
        "ts": "INTEGER",
        "date": "TEXT",
        "json": "TEXT",
        "blob": "BLOB",
        "bool": "INTEGER",
        "bigint": "INTEGER",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
    }
    unavailable: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
    integrity: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 5000) -> None:
        self.path = os.fspath(path)
        if self.path == ":memory:" or self.path.startswith("file::memory:"):
            raise ValueError("SqliteStore needs a file path (connections are per thread)")
        self.busy_ms = busy_timeout_ms

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=self.busy_ms / 1000, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_ms)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def sql(self, statement: str) -> str:
        return statement

    def begin(self, write: bool) -> str:
        return "BEGIN IMMEDIATE" if write else "BEGIN"

    def ts(self, value: dt.datetime) -> int:
        return to_us(value)

    def from_ts(self, value: Any) -> dt.datetime:
        return from_us(int(value))

    def from_json(self, value: Any) -> Any:
        return json.loads(value)

    def greatest(self) -> str:
        return "MAX"

    def describe(self, exc: BaseException) -> str:
        text = str(exc)
        return "database busy (locked by another writer)" if "locked" in text else "database unavailable"

    def prepare_migration(self, tx: Any) -> None:
        return None

    def is_unavailable(self, exc: BaseException) -> bool:
        """Busy, locked, unreadable: not a mistake in a statement (those stay programming errors)."""
        text = str(exc).lower()
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in text for word in ("locked", "busy", "unable to open", "disk i/o", "readonly")
        )


class PostgresDialect:
    """psycopg 3, autocommit connections with explicit transactions, all tables in one schema.

    Every connection carries a statement timeout and a lock timeout, so no call waits without bound
    on a lock another session holds; both surface as `StoreUnavailable`."""

    name = "postgres"
    types = {
        "ts": "TIMESTAMPTZ",
        "date": "DATE",
        "json": "JSONB",
        "blob": "BYTEA",
        "bool": "BOOLEAN",
        "bigint": "BIGINT",
        "serial": "BIGSERIAL PRIMARY KEY",
    }

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "bhytgate",
        connect_timeout: int = 5,
        statement_timeout_ms: int = 5000,
        lock_timeout_ms: int = 2000,
    ) -> None:
        import psycopg

        self.conninfo = conninfo
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms
        self.unavailable: tuple[type[BaseException], ...] = (psycopg.OperationalError,)
        self.integrity: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)

    def connect(self) -> Any:
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row

        conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=self.connect_timeout,
            # A database that vanishes mid-statement is noticed, not waited on forever.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        try:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(self.statement_timeout_ms)))
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(self.lock_timeout_ms)))
        except BaseException:
            conn.close()
            raise
        return conn

    def prepare_migration(self, tx: Any) -> None:
        """Migrations may wait for another replica's and build indexes on large tables: no 5 s
        statement bound, a generous lock bound; the schema is created here, not on every connect."""
        from psycopg import sql

        tx.conn.execute("SET LOCAL statement_timeout = 0")
        tx.conn.execute("SET LOCAL lock_timeout = '120s'")
        tx.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        # The key of earlier releases, so that old and new replicas serialise their migrations.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("bhytgate-migrate:" + self.schema,))

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def begin(self, write: bool) -> str:
        return "BEGIN"

    def ts(self, value: dt.datetime) -> dt.datetime:
        return aware(value)

    def from_ts(self, value: Any) -> dt.datetime:
        assert isinstance(value, dt.datetime)
        return value.astimezone(dt.UTC)

    def from_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def greatest(self) -> str:
        return "GREATEST"

    def describe(self, exc: BaseException) -> str:
        import psycopg

        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return "database lock wait exceeded"
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return "database statement timed out"
        return "database unreachable"

    def is_unavailable(self, exc: BaseException) -> bool:
        """Connection lost, timeouts, and the server refusing for its own state (a standby after a
        fail-over, a session killed for idling): the call may succeed on a fresh connection."""
        import psycopg
        from psycopg import errors

        return isinstance(
            exc,
            psycopg.OperationalError
            | errors.ReadOnlySqlTransaction
            | errors.IdleInTransactionSessionTimeout
            | errors.AdminShutdown
            | errors.CannotConnectNow,
        )

"""The embedded default store (SQLite); the implementation is `bhytgate.storage.sql`."""

from bhytgate.storage.sql import SqliteStore

__all__ = ["SqliteStore"]

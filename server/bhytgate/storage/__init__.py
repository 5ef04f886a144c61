"""Persistence behind the narrow `Store` protocol: SQLite embedded by default, PostgreSQL for scale.

`bhytgate.storage.postgres` is imported lazily: psycopg is only needed when a PostgreSQL URL is used.
"""

from __future__ import annotations

import datetime as dt

from bhytgate.storage.interface import (
    AlreadyRecorded,
    AuditConflictError,
    CccdLink,
    ChallengeProblem,
    ChallengeRecord,
    FaceTemplate,
    LostReport,
    StorageError,
    Store,
    StoreUnavailable,
    TemplateIntegrityError,
    VerificationEvent,
)
from bhytgate.storage.sql import SqliteStore, SqlStore


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(
    url: str,
    *,
    template_key: bytes | None,
    frame_hash_ttl: dt.timedelta = dt.timedelta(hours=24),
    pg_schema: str = "bhytgate",
) -> SqlStore:
    """`sqlite:///path/to/db` (or a bare path) or `postgresql://...` → a migrated, open store."""
    if is_postgres(url):
        from bhytgate.storage.postgres import PostgresStore

        return PostgresStore(url, template_key=template_key, schema=pg_schema, frame_hash_ttl=frame_hash_ttl)
    if "://" in url and not url.startswith("sqlite:///"):
        # Never a silent fallback to a local file: a replica with its own SQLite shares nothing.
        raise ValueError(
            f"database URL scheme not supported: {url.split('://', 1)[0]}:// (sqlite:/// or postgresql://)"
        )
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return SqliteStore(path, template_key=template_key, frame_hash_ttl=frame_hash_ttl)


__all__ = [
    "AlreadyRecorded",
    "AuditConflictError",
    "CccdLink",
    "ChallengeProblem",
    "ChallengeRecord",
    "FaceTemplate",
    "LostReport",
    "SqlStore",
    "SqliteStore",
    "StorageError",
    "Store",
    "StoreUnavailable",
    "TemplateIntegrityError",
    "VerificationEvent",
    "is_postgres",
    "open_store",
]

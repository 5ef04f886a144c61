"""The server-engine store (PostgreSQL via psycopg 3); the implementation is `bhytgate.storage.sql`.

Imported lazily by `open_store`: psycopg is needed only when a PostgreSQL URL is used.
"""

from bhytgate.storage.sql import PostgresStore

__all__ = ["PostgresStore"]

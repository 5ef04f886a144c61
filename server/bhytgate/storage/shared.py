"""State that used to live in one gateway process and now lives in the database, so that every
replica sees the same: counter sessions, near-duplicate frame fingerprints, rate-limit windows,
trust anchors, terminal device keys, and the cluster's identity and wrapped secrets.

A mixin of `SqlStore` (it uses its `_tx`/`_read`, dialect and sealer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bhytgate.storage._host import SqlHost
from bhytgate.storage.interface import ClusterRecord, StoredFingerprint

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bhytgate.storage._codec import TemplateSealer


class SharedStateMixin(SqlHost):
    if TYPE_CHECKING:

        @property
        def _sealer(self) -> TemplateSealer: ...

        def iter_audit(self, from_seq: int = 0) -> Iterator[Any]: ...

    # -- counter sessions (sealed: they hold the chip photo and the holder's name) ----------------

    def put_session(self, verification_id: str, terminal_id: str, at: dt.datetime, payload: bytes) -> None:
        nonce, sealed = self._sealer.seal_blob(f"session:{verification_id}:{terminal_id}", payload)
        with self._tx(durable=False) as c:
            c.execute(
                """INSERT INTO sessions (verification_id, terminal_id, created_at, nonce, payload)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (verification_id) DO UPDATE SET terminal_id = excluded.terminal_id,
                     created_at = excluded.created_at, nonce = excluded.nonce, payload = excluded.payload""",
                (verification_id, terminal_id, self._ts(at), nonce, sealed),
            )

    def get_session(self, verification_id: str) -> tuple[str, dt.datetime, bytes] | None:
        """(terminal id, created at, payload) of a recent verification, or None."""
        with self._read() as c:
            row = c.one("SELECT * FROM sessions WHERE verification_id = ?", (verification_id,))
        if row is None:
            return None
        terminal = str(row["terminal_id"])
        payload = self._sealer.open_blob(
            f"session:{verification_id}:{terminal}", bytes(row["nonce"]), bytes(row["payload"])
        )
        return terminal, self._from_ts(row["created_at"]), payload

    def purge_sessions(self, older_than: dt.datetime) -> int:
        with self._tx() as c:
            return int(
                c.execute("DELETE FROM sessions WHERE created_at < ?", (self._ts(older_than),)).rowcount
            )

    # -- near-duplicate frame fingerprints --------------------------------------------------------

    def add_fingerprints(self, items: Sequence[tuple[bytes, bytes]], at: dt.datetime) -> list[int]:
        """Store (sha256, perceptual hash) pairs; returns their row ids (increasing)."""
        ids: list[int] = []
        with self._tx(durable=False) as c:
            for sha, phash in items:
                row = c.one(
                    "INSERT INTO frame_fingerprints (sha256, phash, seen_at) VALUES (?, ?, ?) RETURNING id",
                    (bytes(sha), bytes(phash), self._ts(at)),
                )
                ids.append(int(row["id"]))
        return ids

    def fingerprints_after(
        self, after_id: int, since: dt.datetime, limit: int = 20_000, also: Sequence[int] = ()
    ) -> list[StoredFingerprint]:
        """Fingerprints stored after row `after_id` (by any replica), not older than `since`, and the
        rows `also` (ids an earlier read skipped because their transaction had not committed)."""
        extra = list(also)[:500]
        where = "id > ?" + (f" OR id IN ({', '.join('?' * len(extra))})" if extra else "")
        with self._read() as c:
            rows = c.all(
                f"""SELECT id, sha256, phash FROM frame_fingerprints WHERE ({where}) AND seen_at >= ?
                   ORDER BY id LIMIT ?""",  # noqa: S608  (placeholders only)
                (after_id, *extra, self._ts(since), limit),
            )
        return [StoredFingerprint(int(r["id"]), bytes(r["sha256"]), bytes(r["phash"])) for r in rows]

    def fingerprint_head(self) -> int:
        with self._read() as c:
            return int(c.one("SELECT COALESCE(MAX(id), 0) AS v FROM frame_fingerprints")["v"])

    def prune_fingerprints(self, older_than: dt.datetime) -> int:
        with self._tx() as c:
            return int(
                c.execute(
                    "DELETE FROM frame_fingerprints WHERE seen_at < ?", (self._ts(older_than),)
                ).rowcount
            )

    # -- rate limits ------------------------------------------------------------------------------

    def hit_rate_window(self, scope: str, window_start: int) -> int:
        """Count one more call in (scope, fixed window); returns the window's count including it."""
        with self._tx(durable=False) as c:
            row = c.one(
                """INSERT INTO rate_windows (scope, window_start, hits) VALUES (?, ?, 1)
                   ON CONFLICT (scope, window_start) DO UPDATE SET hits = rate_windows.hits + 1
                   RETURNING hits""",
                (scope, window_start),
            )
            return int(row["hits"])

    def purge_rate_windows(self, before_window: int) -> int:
        with self._tx() as c:
            return int(
                c.execute("DELETE FROM rate_windows WHERE window_start < ?", (before_window,)).rowcount
            )

    # -- trust anchors ----------------------------------------------------------------------------

    def add_trust_items(self, items: Sequence[tuple[str, str, bytes]], at: dt.datetime) -> int:
        """(kind, sha256 hex, DER) of validated CSCAs, master lists, CRLs; returns how many were new."""
        added = 0
        with self._tx() as c:
            for kind, digest, der in items:
                added += int(
                    c.execute(
                        """INSERT INTO trust_items (kind, sha256, der, added_at) VALUES (?, ?, ?, ?)
                           ON CONFLICT (sha256) DO NOTHING""",
                        (kind, digest, bytes(der), self._ts(at)),
                    ).rowcount
                )
        return added

    def trust_items(self) -> list[tuple[int, str, bytes]]:
        with self._read() as c:
            rows = c.all("SELECT id, kind, der FROM trust_items ORDER BY id")
        return [(int(r["id"]), str(r["kind"]), bytes(r["der"])) for r in rows]

    def trust_version(self) -> tuple[int, int]:
        """(count, highest id): moves whenever an item is added, even one whose transaction commits
        after a later id's (ids are handed out at insert). Replicas reload when it moves."""
        with self._read() as c:
            row = c.one("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS v FROM trust_items")
            return int(row["n"]), int(row["v"])

    # -- terminal device keys ---------------------------------------------------------------------

    def put_terminal_key(
        self, terminal_id: str, facility: str, pem: str, at: dt.datetime, *, replace: bool = True
    ) -> None:
        """The key of the terminal `terminal_id` of `facility` (terminal ids repeat across
        facilities). `replace=False` keeps a key already registered (a stale file must not undo a
        rotation)."""
        insert = "INSERT INTO device_keys (terminal_id, facility, pem, registered_at) VALUES (?, ?, ?, ?)"
        upsert = (
            insert + " ON CONFLICT (terminal_id, facility) DO UPDATE"
            " SET pem = excluded.pem, registered_at = excluded.registered_at"
        )
        keep = insert + " ON CONFLICT (terminal_id, facility) DO NOTHING"
        with self._tx() as c:
            c.execute(upsert if replace else keep, (terminal_id, facility, pem, self._ts(at)))

    def terminal_key(self, terminal_id: str, facility: str) -> str | None:
        """This facility's key for the terminal; else a key registered before keys had a
        facility (migration 8: it binds the id everywhere until the facility registers its own)."""
        with self._read() as c:
            rows = c.all(
                "SELECT facility, pem FROM device_keys WHERE terminal_id = ? AND facility IN (?, '')",
                (terminal_id, facility),
            )
        by_facility = {str(r["facility"]): str(r["pem"]) for r in rows}
        return by_facility.get(facility, by_facility.get(""))

    # -- cluster identity and wrapped secrets -----------------------------------------------------

    def cluster_record(self) -> ClusterRecord | None:
        with self._read() as c:
            row = c.one("SELECT * FROM cluster WHERE id = 1")
        if row is None:
            return None
        return ClusterRecord(
            str(row["cluster_id"]),
            self._from_ts(row["created_at"]),
            str(row["master_check"]),
            str(row["config"]),
        )

    def init_cluster(
        self, record: ClusterRecord, wrapped: Sequence[tuple[str, bytes, bytes]]
    ) -> ClusterRecord:
        """Create the cluster with its wrapped secrets unless one exists; returns the one that stands
        (a replica racing another to initialise gets the winner's record)."""
        with self._tx() as c:
            if self._d.name == "postgres":
                c.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("bhytgate-cluster-init",))
            existing = c.one("SELECT 1 AS x FROM cluster WHERE id = 1")
            if existing is None:
                c.execute(
                    """INSERT INTO cluster (id, cluster_id, created_at, master_check, config)
                       VALUES (1, ?, ?, ?, ?)""",
                    (record.cluster_id, self._ts(record.created_at), record.master_check, record.config),
                )
                for name, nonce, blob in wrapped:
                    c.execute(
                        "INSERT INTO cluster_secrets (name, nonce, wrapped) VALUES (?, ?, ?)",
                        (name, nonce, blob),
                    )
        found = self.cluster_record()
        assert found is not None
        return found

    def update_cluster_config(self, config: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE cluster SET config = ? WHERE id = 1", (config,))

    def cluster_secret(self, name: str) -> tuple[bytes, bytes] | None:
        with self._read() as c:
            row = c.one("SELECT nonce, wrapped FROM cluster_secrets WHERE name = ?", (name,))
        return None if row is None else (bytes(row["nonce"]), bytes(row["wrapped"]))

"""The fraud ledger, the audit chain and the exact-frame memory: the append-mostly tables every
decision writes. A mixin of `SqlStore` (it uses its `_tx`/`_read` and dialect)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bhytgate.audit.chain import GENESIS_HASH, AuditEntry
from bhytgate.audit.index import IndexRow
from bhytgate.storage._host import SqlHost
from bhytgate.storage.interface import AlreadyRecorded, AuditConflictError, VerificationEvent

if TYPE_CHECKING:
    from bhytgate.storage.sql import Tx


class LedgerMixin(SqlHost):
    if TYPE_CHECKING:
        _frame_ttl: dt.timedelta

    # -- fraud events and counters ----------------------------------------------------------------

    def record_verification(self, event: VerificationEvent) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO verification_events (document_key, facility, terminal_id, decision,
                     face_mismatch, at) VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    event.document_key,
                    event.facility,
                    event.terminal_id,
                    event.decision,
                    bool(event.face_mismatch),
                    self._ts(event.at),
                ),
            )

    def facilities_since(self, document_key: str, since: dt.datetime) -> frozenset[str]:
        with self._read() as c:
            rows = c.all(
                "SELECT DISTINCT facility FROM verification_events WHERE document_key = ? AND at >= ?",
                (document_key, self._ts(since)),
            )
        return frozenset(r["facility"] for r in rows)

    def face_mismatches_since(self, document_key: str, since: dt.datetime) -> int:
        with self._read() as c:
            row = c.one(
                """SELECT COUNT(*) AS n FROM verification_events
                   WHERE document_key = ? AND face_mismatch = ? AND at >= ?""",
                (document_key, True, self._ts(since)),
            )
        return int(row["n"])

    def terminal_recent_decisions(self, facility: str, terminal_id: str, last_n: int) -> dict[str, int]:
        """A terminal is its id *at its facility*: ids repeat across facilities, and another
        facility's `desk-01` sending bogus checks flagged this one's (attack run, 2026-12-03)."""
        with self._read() as c:
            rows = c.all(
                """SELECT decision, COUNT(*) AS n FROM
                     (SELECT decision FROM verification_events WHERE terminal_id = ? AND facility = ?
                       ORDER BY id DESC LIMIT ?) AS r
                   GROUP BY decision""",
                (terminal_id, facility, last_n),
            )
        return {r["decision"]: int(r["n"]) for r in rows}

    # -- biometric locks --------------------------------------------------------------------------

    def lock_biometrics(self, document_key: str, until: dt.datetime) -> None:
        """A lock only ever extends: a shorter new lock never shortens a running one."""
        with self._tx() as c:
            c.execute(  # the f-string only inserts the dialect's own function name
                f"""INSERT INTO biometric_locks (document_key, until) VALUES (?, ?)
                   ON CONFLICT (document_key) DO UPDATE SET
                     until = {self._d.greatest()}(biometric_locks.until, excluded.until)""",  # noqa: S608
                (document_key, self._ts(until)),
            )

    def biometric_lock_until(self, document_key: str, now: dt.datetime) -> dt.datetime | None:
        with self._read() as c:
            row = c.one(
                "SELECT until FROM biometric_locks WHERE document_key = ? AND until > ?",
                (document_key, self._ts(now)),
            )
        return None if row is None else self._from_ts(row["until"])

    # -- audit ------------------------------------------------------------------------------------

    def append_audit(
        self,
        build: Callable[[int, str], AuditEntry],
        *,
        record_id: str | None = None,
        challenge_id: str | None = None,
        also: Callable[[Tx], None] | None = None,
    ) -> AuditEntry:
        """Read the head and insert under one lock, so appenders in any process never fork the chain.

        `record_id` makes the append happen at most once (a second raises `AlreadyRecorded`);
        `challenge_id` marks the spent challenge as recorded in the same transaction, and refuses
        (`AlreadyRecorded`) when an orphan sweep already wrote its record. `also` runs in the same
        transaction after the insert (a review case's state change): if it raises, neither happens."""
        with self._tx() as c:
            entry = self._append_audit_in(c, build, record_id=record_id, challenge_id=challenge_id)
            if also is not None:
                also(c)
            return entry

    def _append_audit_in(
        self,
        c: Tx,
        build: Callable[[int, str], AuditEntry],
        *,
        record_id: str | None = None,
        challenge_id: str | None = None,
    ) -> AuditEntry:
        """`append_audit` inside the caller's transaction (a record written with what it records)."""
        if self._d.name == "postgres":
            c.execute("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
        if challenge_id is not None:
            marked = c.execute(
                "UPDATE challenges SET recorded_at = ? WHERE challenge_id = ? AND recorded_at IS NULL",
                (self._ts(dt.datetime.now(dt.UTC)), challenge_id),
            ).rowcount
            if marked == 0:
                raise AlreadyRecorded("this challenge's check is already in the audit log")
        if record_id is not None and c.one("SELECT 1 AS x FROM audit_log WHERE record_id = ?", (record_id,)):
            raise AlreadyRecorded("a record with this id is already in the audit log")
        row = c.one("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq, head = (0, GENESIS_HASH) if row is None else (int(row["seq"]) + 1, str(row["hash"]))
        entry = build(seq, head)
        if entry.seq != seq or entry.prev_hash != head:
            raise AuditConflictError("audit entry does not extend the current head")
        c.execute(
            "INSERT INTO audit_log (seq, prev_hash, hash, body, record_id) VALUES (?, ?, ?, ?, ?)",
            (entry.seq, entry.prev_hash, entry.hash, entry.body, record_id),
        )
        return entry

    def audit_head(self) -> tuple[int, str]:
        """(number of records, hash of the last one); (0, genesis) when empty."""
        with self._read() as c:
            row = c.one("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        return (0, GENESIS_HASH) if row is None else (int(row["seq"]) + 1, str(row["hash"]))

    def audit_record_exists(self, record_id: str) -> bool:
        with self._read() as c:
            return c.one("SELECT 1 AS x FROM audit_log WHERE record_id = ?", (record_id,)) is not None

    def iter_audit(self, from_seq: int = 0) -> Iterator[AuditEntry]:
        """Pages by seq so a long log never holds a read transaction open across the caller's work."""
        next_seq = from_seq
        while True:
            with self._read() as c:
                rows = c.all(
                    "SELECT seq, prev_hash, hash, body FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT 500",
                    (next_seq,),
                )
            if not rows:
                return
            for r in rows:
                yield AuditEntry(int(r["seq"]), str(r["prev_hash"]), str(r["hash"]), str(r["body"]))
            next_seq = int(rows[-1]["seq"]) + 1

    def iter_audit_index(self, from_seq: int = -(2**63)) -> Iterator[IndexRow]:
        """`audit_index` rows by seq, paged like `iter_audit`; `at` an aware UTC time on both engines.
        By default from the lowest row, even one below 0 that no record can have."""
        # A time no datetime holds (written behind the store's back, or SQLite's reading of a
        # year-0 body) is read as none and marked unreadable, never raised (an OverflowError,
        # psycopg's DataError at the fetch): the check then names its row (attack run, 2026-12-02).
        # SQLite orders a text or blob after every number, so those are out of range too.
        lo = self._ts(dt.datetime.min.replace(tzinfo=dt.UTC))
        hi = self._ts(dt.datetime.max.replace(tzinfo=dt.UTC))
        next_seq = from_seq
        while True:
            with self._read() as c:
                rows = c.all(
                    """SELECT seq, facility, province, document, action,
                         CASE WHEN at >= ? AND at <= ? THEN at END AS at,
                         CASE WHEN at IS NULL OR (at >= ? AND at <= ?) THEN 0 ELSE 1 END AS bad_at
                       FROM audit_index WHERE seq >= ? ORDER BY seq LIMIT 500""",
                    (lo, hi, lo, hi, next_seq),
                )
            if not rows:
                return
            for r in rows:
                yield IndexRow(
                    int(r["seq"]),
                    str(r["facility"]),
                    str(r["province"]),
                    None if r["document"] is None else str(r["document"]),
                    None if r["at"] is None else self._from_ts(r["at"]),
                    str(r["action"]),
                    unreadable=frozenset({"at"}) if int(r["bad_at"]) else frozenset(),
                )
            next_seq = int(rows[-1]["seq"]) + 1

    def audit_index_row_without_record(self, from_seq: int) -> int | None:
        """The first index row at or after `from_seq` with no record of its seq, in one statement
        (a record and its row commit together, so an append in flight is never one)."""
        with self._read() as c:
            row = c.one(
                """SELECT i.seq FROM audit_index i WHERE i.seq >= ?
                   AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.seq = i.seq) ORDER BY i.seq LIMIT 1""",
                (from_seq,),
            )
        return None if row is None else int(row["seq"])

    def audit_decisions(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        facility: str | None = None,
        province: str | None = None,
        limit: int,
    ) -> Iterator[str]:
        """Bodies of the verify decisions in [since, until) of one facility, one province (the
        first two digits of its facilities' codes) or every facility (both None): newest first, at
        most `limit`, paged through `audit_index` (migration 10), so a small facility's history is
        found however busy the others are. The caller still reads each body (the hashed record):
        the index only chooses which."""
        if facility is not None and province is not None:
            raise ValueError("a dashboard scope is one facility or one province, not both")
        scope, key = ("i.facility = ? AND ", (facility,)) if facility is not None else ("", ())
        if province is not None:
            scope, key = "i.province = ? AND ", (province,)
        # The f-strings only join fixed clauses; `action = 'verify'` literal so the partial index applies.
        select = (
            f"SELECT i.seq, i.at, l.body FROM audit_index i JOIN audit_log l ON l.seq = i.seq"  # noqa: S608
            f" WHERE {scope}i.action = 'verify' AND i.at >= ?"
        )
        order = " ORDER BY i.at DESC, i.seq DESC LIMIT ?"
        first = select + " AND i.at < ?" + order
        # A later page starts at the last one's time, its only upper bound (with the window's end
        # beside it the engine may range from that end, and every page rescan what went before),
        # and skips that time's records already given by seq.
        after = select + " AND i.at <= ? AND (i.at < ? OR i.seq < ?)" + order
        lo = self._ts(since)
        last: tuple[Any, int] | None = None
        remaining = limit
        while remaining > 0:
            page = min(500, remaining)
            with self._read() as c:
                if last is None:
                    rows = c.all(first, (*key, lo, self._ts(until), page))
                else:
                    rows = c.all(after, (*key, lo, last[0], last[0], last[1], page))
            if not rows:
                return
            for r in rows:
                yield str(r["body"])
            remaining -= len(rows)
            last = (rows[-1]["at"], int(rows[-1]["seq"]))

    def audit_bodies_of(self, document_key: str) -> Iterator[str]:
        """Every record body under one pseudonym, in chain order, paged through `audit_index`:
        O(that person's records), not a pass over the log."""
        after = -1
        while True:
            with self._read() as c:
                rows = c.all(
                    """SELECT i.seq, l.body FROM audit_index i JOIN audit_log l ON l.seq = i.seq
                       WHERE i.document = ? AND i.seq > ? ORDER BY i.seq LIMIT 500""",
                    (document_key, after),
                )
            if not rows:
                return
            for r in rows:
                yield str(r["body"])
            after = int(rows[-1]["seq"])

    # -- liveness replay: exact frame hashes ------------------------------------------------------

    def add_frame_hashes(self, digests: Sequence[bytes], at: dt.datetime) -> frozenset[bytes]:
        """Insert and test in one step (no check-then-add race); returns the digests already seen.

        Entries older than the TTL are dropped on the way, which keeps the table bounded."""
        seen: set[bytes] = set()
        with self._tx(durable=False) as c:
            c.execute("DELETE FROM frame_hashes WHERE seen_at < ?", (self._ts(at - self._frame_ttl),))
            for d in digests:
                cur = c.execute(
                    """INSERT INTO frame_hashes (digest, seen_at) VALUES (?, ?)
                       ON CONFLICT (digest) DO NOTHING""",
                    (bytes(d), self._ts(at)),
                )
                if cur.rowcount == 0:
                    seen.add(bytes(d))
        return frozenset(seen)

    def frame_hash_seen(self, digest: bytes) -> bool:
        with self._read() as c:
            return c.one("SELECT 1 AS x FROM frame_hashes WHERE digest = ?", (bytes(digest),)) is not None

    def prune_frame_hashes(self, older_than: dt.datetime) -> int:
        with self._tx() as c:
            return int(
                c.execute("DELETE FROM frame_hashes WHERE seen_at < ?", (self._ts(older_than),)).rowcount
            )

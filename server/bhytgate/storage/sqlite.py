"""Embedded default store: SQLite in WAL mode, one connection per thread, short transactions.

The gRPC service calls these methods from a thread pool, so each thread gets its own connection
(readers never block the writer under WAL) and writes take the database lock up front with
`BEGIN IMMEDIATE` (no lock-upgrade deadlocks; `busy_timeout` queues writers instead of failing).
Timestamps are stored as integer microseconds since the epoch (UTC) so comparisons are exact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence

from bhytgate.audit.chain import GENESIS_HASH, AuditEntry
from bhytgate.entitlement.model import Entitlement
from bhytgate.storage._codec import (
    TemplateSealer,
    check_bhxh,
    check_cccd,
    check_entitlement,
    entitlement_from_json,
    entitlement_to_json,
    from_us,
    to_us,
)
from bhytgate.storage.interface import (
    AuditConflictError,
    CccdLink,
    ChallengeProblem,
    ChallengeRecord,
    FaceTemplate,
    LostReport,
    VerificationEvent,
)

# Numbered migrations, applied in order at open and recorded in schema_version. Never edit a released
# migration: append a new one.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE entitlements (
                card_number TEXT PRIMARY KEY,
                bhxh_number TEXT NOT NULL,
                cccd_number TEXT,
                valid_from TEXT NOT NULL,
                data TEXT NOT NULL,
                updated_at INTEGER NOT NULL)""",
            "CREATE INDEX ix_entitlements_bhxh ON entitlements(bhxh_number)",
            "CREATE INDEX ix_entitlements_cccd ON entitlements(cccd_number)",
            """CREATE TABLE cccd_links (
                cccd_number TEXT PRIMARY KEY,
                bhxh_number TEXT NOT NULL,
                by_terminal TEXT NOT NULL,
                linked_at INTEGER NOT NULL)""",
            "CREATE INDEX ix_cccd_links_bhxh ON cccd_links(bhxh_number)",
            """CREATE TABLE face_templates (
                cccd_number TEXT PRIMARY KEY,
                model_name TEXT NOT NULL,
                model_version TEXT NOT NULL,
                nonce BLOB NOT NULL,
                ciphertext BLOB NOT NULL,
                enrolled_at INTEGER NOT NULL)""",
            """CREATE TABLE challenges (
                challenge_id TEXT PRIMARY KEY,
                terminal_id TEXT NOT NULL,
                nonce BLOB NOT NULL,
                aa_challenge BLOB NOT NULL,
                actions TEXT NOT NULL,
                issued_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                consumed_at INTEGER)""",
            "CREATE INDEX ix_challenges_expires ON challenges(expires_at)",
            """CREATE TABLE lost_reports (
                document_key TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                reporter TEXT NOT NULL,
                reported_at INTEGER NOT NULL)""",
            """CREATE TABLE verification_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                document_key TEXT NOT NULL,
                facility TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                decision TEXT NOT NULL,
                face_mismatch INTEGER NOT NULL,
                at INTEGER NOT NULL)""",
            "CREATE INDEX ix_events_document_at ON verification_events(document_key, at)",
            "CREATE INDEX ix_events_terminal ON verification_events(terminal_id, id)",
            """CREATE TABLE biometric_locks (
                document_key TEXT PRIMARY KEY,
                until INTEGER NOT NULL)""",
            """CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                body TEXT NOT NULL)""",
            """CREATE TABLE frame_hashes (
                digest BLOB PRIMARY KEY,
                seen_at INTEGER NOT NULL)""",
            "CREATE INDEX ix_frame_hashes_seen ON frame_hashes(seen_at)",
        ),
    ),
    (
        2,
        (
            # The audit log is append-only in the database too, not only by convention.
            """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
            """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
        ),
    ),
)


def _challenge(row: sqlite3.Row) -> ChallengeRecord:
    return ChallengeRecord(
        challenge_id=row["challenge_id"],
        terminal_id=row["terminal_id"],
        nonce=bytes(row["nonce"]),
        aa_challenge=bytes(row["aa_challenge"]),
        actions=tuple(json.loads(row["actions"])),
        issued_at=from_us(row["issued_at"]),
        expires_at=from_us(row["expires_at"]),
        consumed_at=None if row["consumed_at"] is None else from_us(row["consumed_at"]),
    )


class SqliteStore:
    """`Store` on a SQLite file. `:memory:` is refused: per-thread connections would not share it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        template_key: bytes,
        frame_hash_ttl: dt.timedelta = dt.timedelta(hours=24),
        busy_timeout_ms: int = 5000,
    ) -> None:
        self._path = os.fspath(path)
        if self._path == ":memory:" or self._path.startswith("file::memory:"):
            raise ValueError("SqliteStore needs a file path (connections are per thread)")
        self._sealer = TemplateSealer(template_key)
        self._frame_ttl = frame_hash_ttl
        self._busy_ms = busy_timeout_ms
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._migrate()

    # -- connections and transactions -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, timeout=self._busy_ms / 1000, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; writers take the lock at BEGIN so two writers never deadlock on upgrade."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def _migrate(self) -> None:
        with self._tx() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at "
                "INTEGER NOT NULL)"
            )
            current = c.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            now = to_us(dt.datetime.now(dt.UTC))
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for stmt in statements:
                    c.execute(stmt)
                c.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now))

    def schema_version(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0])

    # -- entitlements -----------------------------------------------------------------------------

    def upsert_entitlements(self, records: Sequence[Entitlement]) -> int:
        """All or nothing: a bad record anywhere rolls back the whole import."""
        now = to_us(dt.datetime.now(dt.UTC))
        with self._tx() as c:
            for e in records:
                check_entitlement(e)
                c.execute(
                    """INSERT INTO entitlements (card_number, bhxh_number, cccd_number, valid_from,
                         data, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT(card_number) DO UPDATE SET
                         bhxh_number = excluded.bhxh_number, cccd_number = excluded.cccd_number,
                         valid_from = excluded.valid_from, data = excluded.data,
                           updated_at = excluded.updated_at""",
                    (
                        e.card_number,
                        e.social_insurance_number,
                        e.cccd_number,
                        e.valid_from.isoformat(),
                        entitlement_to_json(e),
                        now,
                    ),
                )
        return len(records)

    def entitlement_by_card(self, card_number: str) -> Entitlement | None:
        row = (
            self._conn()
            .execute("SELECT data FROM entitlements WHERE card_number = ?", (card_number,))
            .fetchone()
        )
        return None if row is None else entitlement_from_json(row["data"])

    def entitlements_by_bhxh(self, bhxh_number: str) -> list[Entitlement]:
        rows = self._conn().execute(
            "SELECT data FROM entitlements WHERE bhxh_number = ? ORDER BY valid_from DESC, card_number",
            (bhxh_number,),
        )
        return [entitlement_from_json(r["data"]) for r in rows]

    def entitlements_by_cccd(self, cccd_number: str) -> list[Entitlement]:
        """Cards carrying this CCCD, plus cards of the BHXH number a counter linked to it."""
        rows = self._conn().execute(
            """SELECT card_number, valid_from, data FROM entitlements WHERE cccd_number = ?
               UNION
               SELECT e.card_number, e.valid_from, e.data FROM entitlements e
                 JOIN cccd_links l ON l.bhxh_number = e.bhxh_number WHERE l.cccd_number = ?
               ORDER BY valid_from DESC, card_number""",
            (cccd_number, cccd_number),
        )
        return [entitlement_from_json(r["data"]) for r in rows]

    # -- links ------------------------------------------------------------------------------------

    def link_cccd(self, cccd_number: str, bhxh_number: str, by_terminal: str, at: dt.datetime) -> None:
        check_cccd(cccd_number)
        check_bhxh(bhxh_number)
        with self._tx() as c:
            c.execute(
                """INSERT INTO cccd_links (cccd_number, bhxh_number, by_terminal,
                     linked_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT(cccd_number) DO UPDATE SET bhxh_number = excluded.bhxh_number,
                     by_terminal = excluded.by_terminal, linked_at = excluded.linked_at""",
                (cccd_number, bhxh_number, by_terminal, to_us(at)),
            )

    def linked_bhxh(self, cccd_number: str) -> CccdLink | None:
        row = (
            self._conn().execute("SELECT * FROM cccd_links WHERE cccd_number = ?", (cccd_number,)).fetchone()
        )
        if row is None:
            return None
        return CccdLink(row["cccd_number"], row["bhxh_number"], row["by_terminal"], from_us(row["linked_at"]))

    # -- face templates ---------------------------------------------------------------------------

    def put_face_template(
        self, cccd_number: str, template: bytes, model_name: str, model_version: str, at: dt.datetime
    ) -> None:
        check_cccd(cccd_number)
        nonce, ct = self._sealer.seal(cccd_number, model_name, model_version, template)
        with self._tx() as c:
            c.execute(
                """INSERT INTO face_templates (cccd_number, model_name, model_version, nonce,
                     ciphertext, enrolled_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(cccd_number) DO UPDATE SET model_name = excluded.model_name,
                     model_version = excluded.model_version, nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext, enrolled_at = excluded.enrolled_at""",
                (cccd_number, model_name, model_version, nonce, ct, to_us(at)),
            )

    def get_face_template(self, cccd_number: str) -> FaceTemplate | None:
        row = (
            self._conn()
            .execute("SELECT * FROM face_templates WHERE cccd_number = ?", (cccd_number,))
            .fetchone()
        )
        if row is None:
            return None
        plain = self._sealer.open(
            cccd_number,
            row["model_name"],
            row["model_version"],
            bytes(row["nonce"]),
            bytes(row["ciphertext"]),
        )
        return FaceTemplate(
            cccd_number, plain, row["model_name"], row["model_version"], from_us(row["enrolled_at"])
        )

    # -- challenges -------------------------------------------------------------------------------

    def issue_challenge(self, record: ChallengeRecord) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO challenges
                   (challenge_id, terminal_id, nonce, aa_challenge, actions, issued_at, expires_at,
                     consumed_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, NULL)""",
                (
                    record.challenge_id,
                    record.terminal_id,
                    record.nonce,
                    record.aa_challenge,
                    json.dumps(list(record.actions)),
                    to_us(record.issued_at),
                    to_us(record.expires_at),
                ),
            )

    def consume_challenge(
        self, challenge_id: str, terminal_id: str, now: dt.datetime
    ) -> ChallengeRecord | ChallengeProblem:
        """Exactly one caller wins: the UPDATE only matches an unconsumed, unexpired row of this terminal.

        A mismatching terminal does not burn the challenge (another terminal cannot cancel a check).
        """
        now_us = to_us(now)
        with self._tx() as c:
            cur = c.execute(
                """UPDATE challenges SET consumed_at = ?
                   WHERE challenge_id = ? AND terminal_id = ? AND consumed_at IS NULL AND expires_at > ?""",
                (now_us, challenge_id, terminal_id, now_us),
            )
            row = c.execute("SELECT * FROM challenges WHERE challenge_id = ?", (challenge_id,)).fetchone()
            won = cur.rowcount == 1
        if won:
            return _challenge(row)
        if row is None:
            return ChallengeProblem.UNKNOWN
        if row["terminal_id"] != terminal_id:
            return ChallengeProblem.TERMINAL_MISMATCH
        if row["consumed_at"] is not None:
            return ChallengeProblem.REPLAYED
        return ChallengeProblem.EXPIRED

    def purge_challenges(self, expired_before: dt.datetime) -> int:
        with self._tx() as c:
            return c.execute("DELETE FROM challenges WHERE expires_at < ?", (to_us(expired_before),)).rowcount

    # -- lost / stolen ----------------------------------------------------------------------------

    def report_lost(self, document_key: str, reason: str, reporter: str, at: dt.datetime) -> None:
        """The first report stands; later reports of the same document do not rewrite it."""
        with self._tx() as c:
            c.execute(
                """INSERT INTO lost_reports (document_key, reason, reporter, reported_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT(document_key) DO NOTHING""",
                (document_key, reason, reporter, to_us(at)),
            )

    def is_reported_lost(self, document_key: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM lost_reports WHERE document_key = ?", (document_key,))
            .fetchone()
        )
        return row is not None

    def lost_report(self, document_key: str) -> LostReport | None:
        row = (
            self._conn()
            .execute("SELECT * FROM lost_reports WHERE document_key = ?", (document_key,))
            .fetchone()
        )
        if row is None:
            return None
        return LostReport(row["document_key"], row["reason"], row["reporter"], from_us(row["reported_at"]))

    # -- fraud events -----------------------------------------------------------------------------

    def record_verification(self, event: VerificationEvent) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO verification_events (document_key, facility, terminal_id, decision,
                     face_mismatch, at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    event.document_key,
                    event.facility,
                    event.terminal_id,
                    event.decision,
                    int(event.face_mismatch),
                    to_us(event.at),
                ),
            )

    def facilities_since(self, document_key: str, since: dt.datetime) -> frozenset[str]:
        rows = self._conn().execute(
            "SELECT DISTINCT facility FROM verification_events WHERE document_key = ? AND at >= ?",
            (document_key, to_us(since)),
        )
        return frozenset(r["facility"] for r in rows)

    def face_mismatches_since(self, document_key: str, since: dt.datetime) -> int:
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM verification_events WHERE document_key = ? AND face_mismatch "
                "= 1 AND at >= ?",
                (document_key, to_us(since)),
            )
            .fetchone()
        )
        return int(row[0])

    def terminal_recent_decisions(self, terminal_id: str, last_n: int) -> dict[str, int]:
        rows = self._conn().execute(
            """SELECT decision, COUNT(*) AS n FROM
                 (SELECT decision FROM verification_events WHERE terminal_id = ? ORDER BY id DESC LIMIT ?)
               GROUP BY decision""",
            (terminal_id, last_n),
        )
        return {r["decision"]: int(r["n"]) for r in rows}

    # -- biometric locks --------------------------------------------------------------------------

    def lock_biometrics(self, document_key: str, until: dt.datetime) -> None:
        """A lock only ever extends: a shorter new lock never shortens a running one."""
        with self._tx() as c:
            c.execute(
                """INSERT INTO biometric_locks (document_key, until) VALUES (?, ?)
                   ON CONFLICT(document_key) DO UPDATE SET until = MAX(until, excluded.until)""",
                (document_key, to_us(until)),
            )

    def biometric_lock_until(self, document_key: str, now: dt.datetime) -> dt.datetime | None:
        row = (
            self._conn()
            .execute(
                "SELECT until FROM biometric_locks WHERE document_key = ? AND until > ?",
                (document_key, to_us(now)),
            )
            .fetchone()
        )
        return None if row is None else from_us(row["until"])

    # -- audit ------------------------------------------------------------------------------------

    def append_audit(self, build: Callable[[int, str], AuditEntry]) -> AuditEntry:
        """Read the head and insert under one write lock so concurrent appends never fork the chain."""
        with self._tx() as c:
            row = c.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, head = (0, GENESIS_HASH) if row is None else (int(row["seq"]) + 1, str(row["hash"]))
            entry = build(seq, head)
            if entry.seq != seq or entry.prev_hash != head:
                raise AuditConflictError("audit entry does not extend the current head")
            c.execute(
                "INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (?, ?, ?, ?)",
                (entry.seq, entry.prev_hash, entry.hash, entry.body),
            )
        return entry

    def audit_head(self) -> tuple[int, str]:
        """(number of records, hash of the last one); (0, genesis) when empty."""
        row = self._conn().execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS_HASH) if row is None else (int(row["seq"]) + 1, str(row["hash"]))

    def iter_audit(self, from_seq: int = 0) -> Iterator[AuditEntry]:
        """Pages by seq so a long log never holds a read transaction open across the caller's work."""
        next_seq = from_seq
        while True:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, prev_hash, hash, body FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT 500",
                    (next_seq,),
                )
                .fetchall()
            )
            if not rows:
                return
            for r in rows:
                yield AuditEntry(int(r["seq"]), str(r["prev_hash"]), str(r["hash"]), str(r["body"]))
            next_seq = int(rows[-1]["seq"]) + 1

    # -- frame hashes -----------------------------------------------------------------------------

    def add_frame_hashes(self, digests: Sequence[bytes], at: dt.datetime) -> frozenset[bytes]:
        """Insert and test in one step (no check-then-add race); returns the digests already seen.

        Entries older than the TTL are dropped on the way, which keeps the table bounded.
        """
        at_us = to_us(at)
        seen: set[bytes] = set()
        with self._tx() as c:
            c.execute("DELETE FROM frame_hashes WHERE seen_at < ?", (to_us(at - self._frame_ttl),))
            for d in digests:
                cur = c.execute(
                    "INSERT INTO frame_hashes (digest, seen_at) VALUES (?, ?) ON CONFLICT(digest) DO NOTHING",
                    (bytes(d), at_us),
                )
                if cur.rowcount == 0:
                    seen.add(bytes(d))
        return frozenset(seen)

    def frame_hash_seen(self, digest: bytes) -> bool:
        row = self._conn().execute("SELECT 1 FROM frame_hashes WHERE digest = ?", (bytes(digest),)).fetchone()
        return row is not None

    def prune_frame_hashes(self, older_than: dt.datetime) -> int:
        with self._tx() as c:
            return c.execute("DELETE FROM frame_hashes WHERE seen_at < ?", (to_us(older_than),)).rowcount

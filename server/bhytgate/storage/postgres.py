"""Server-engine store: PostgreSQL via psycopg 3, same contract as SqliteStore.

All tables live in one schema (default `bhytgate`) so that several gateways, or test runs, can share a
database. Each thread gets its own autocommit connection and every method runs in one explicit
transaction. Migrations are serialised across processes with a transaction-scoped advisory lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from bhytgate.audit.chain import GENESIS_HASH, AuditEntry
from bhytgate.entitlement.model import Entitlement
from bhytgate.storage._codec import (
    TemplateSealer,
    aware,
    check_bhxh,
    check_cccd,
    check_entitlement,
    entitlement_from_json,
    entitlement_to_json,
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

Row = dict[str, Any]

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE entitlements (
                card_number TEXT PRIMARY KEY,
                bhxh_number TEXT NOT NULL,
                cccd_number TEXT,
                valid_from DATE NOT NULL,
                data JSONB NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL)""",
            "CREATE INDEX ix_entitlements_bhxh ON entitlements(bhxh_number)",
            "CREATE INDEX ix_entitlements_cccd ON entitlements(cccd_number)",
            """CREATE TABLE cccd_links (
                cccd_number TEXT PRIMARY KEY,
                bhxh_number TEXT NOT NULL,
                by_terminal TEXT NOT NULL,
                linked_at TIMESTAMPTZ NOT NULL)""",
            "CREATE INDEX ix_cccd_links_bhxh ON cccd_links(bhxh_number)",
            """CREATE TABLE face_templates (
                cccd_number TEXT PRIMARY KEY,
                model_name TEXT NOT NULL,
                model_version TEXT NOT NULL,
                nonce BYTEA NOT NULL,
                ciphertext BYTEA NOT NULL,
                enrolled_at TIMESTAMPTZ NOT NULL)""",
            """CREATE TABLE challenges (
                challenge_id TEXT PRIMARY KEY,
                terminal_id TEXT NOT NULL,
                nonce BYTEA NOT NULL,
                aa_challenge BYTEA NOT NULL,
                actions JSONB NOT NULL,
                issued_at TIMESTAMPTZ NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL,
                consumed_at TIMESTAMPTZ)""",
            "CREATE INDEX ix_challenges_expires ON challenges(expires_at)",
            """CREATE TABLE lost_reports (
                document_key TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                reporter TEXT NOT NULL,
                reported_at TIMESTAMPTZ NOT NULL)""",
            """CREATE TABLE verification_events (
                id BIGSERIAL PRIMARY KEY,
                document_key TEXT NOT NULL,
                facility TEXT NOT NULL,
                terminal_id TEXT NOT NULL,
                decision TEXT NOT NULL,
                face_mismatch BOOLEAN NOT NULL,
                at TIMESTAMPTZ NOT NULL)""",
            "CREATE INDEX ix_events_document_at ON verification_events(document_key, at)",
            "CREATE INDEX ix_events_terminal ON verification_events(terminal_id, id)",
            """CREATE TABLE biometric_locks (
                document_key TEXT PRIMARY KEY,
                until TIMESTAMPTZ NOT NULL)""",
            """CREATE TABLE audit_log (
                seq BIGINT PRIMARY KEY,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                body TEXT NOT NULL)""",
            """CREATE TABLE frame_hashes (
                digest BYTEA PRIMARY KEY,
                seen_at TIMESTAMPTZ NOT NULL)""",
            "CREATE INDEX ix_frame_hashes_seen ON frame_hashes(seen_at)",
        ),
    ),
    (
        2,
        (
            """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$""",
            """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
               FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
            """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
               FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
        ),
    ),
)


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.astimezone(dt.UTC)


def _challenge(row: Row) -> ChallengeRecord:
    return ChallengeRecord(
        challenge_id=row["challenge_id"],
        terminal_id=row["terminal_id"],
        nonce=bytes(row["nonce"]),
        aa_challenge=bytes(row["aa_challenge"]),
        actions=tuple(row["actions"]),
        issued_at=_utc(row["issued_at"]),
        expires_at=_utc(row["expires_at"]),
        consumed_at=None if row["consumed_at"] is None else _utc(row["consumed_at"]),
    )


class PostgresStore:
    """`Store` on PostgreSQL. `conninfo` is a libpq string or URL; `schema` holds every table."""

    def __init__(
        self,
        conninfo: str,
        *,
        template_key: bytes,
        schema: str = "bhytgate",
        frame_hash_ttl: dt.timedelta = dt.timedelta(hours=24),
        connect_timeout: int = 5,
        statement_timeout_ms: int = 5000,
    ) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._sealer = TemplateSealer(template_key)
        self._frame_ttl = frame_hash_ttl
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._local = threading.local()
        self._conns: list[psycopg.Connection[Row]] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._migrate()

    def _conn(self) -> psycopg.Connection[Row]:
        if self._closed:
            raise RuntimeError("store is closed")
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(
                self._conninfo, autocommit=True, row_factory=dict_row, connect_timeout=self._connect_timeout
            )
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute(
                sql.SQL("SET statement_timeout = {}").format(sql.Literal(self._statement_timeout_ms))
            )
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Row]]:
        conn = self._conn()
        with conn.transaction():
            yield conn

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def _migrate(self) -> None:
        with self._tx() as c:
            c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("bhytgate-migrate:" + self._schema,))
            c.execute(
                """CREATE TABLE IF NOT EXISTS schema_version (
                     version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
            )
            row = c.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").fetchone()
            current = int(row["v"]) if row else 0
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for stmt in statements:
                    c.execute(stmt.encode())  # static DDL, no parameters
                c.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def schema_version(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").fetchone()
        return int(row["v"]) if row else 0

    # -- entitlements -----------------------------------------------------------------------------

    def upsert_entitlements(self, records: Sequence[Entitlement]) -> int:
        with self._tx() as c:
            for e in records:
                check_entitlement(e)
                c.execute(
                    """INSERT INTO entitlements (card_number, bhxh_number, cccd_number, valid_from,
                         data, updated_at)
                       VALUES (%s, %s, %s, %s, %s::jsonb, now())
                       ON CONFLICT (card_number) DO UPDATE SET
                         bhxh_number = excluded.bhxh_number, cccd_number = excluded.cccd_number,
                         valid_from = excluded.valid_from, data = excluded.data,
                           updated_at = excluded.updated_at""",
                    (
                        e.card_number,
                        e.social_insurance_number,
                        e.cccd_number,
                        e.valid_from,
                        entitlement_to_json(e),
                    ),
                )
        return len(records)

    @staticmethod
    def _ent(row: Row) -> Entitlement:
        return entitlement_from_json(json.dumps(row["data"]))

    def entitlement_by_card(self, card_number: str) -> Entitlement | None:
        row = (
            self._conn()
            .execute("SELECT data FROM entitlements WHERE card_number = %s", (card_number,))
            .fetchone()
        )
        return None if row is None else self._ent(row)

    def entitlements_by_bhxh(self, bhxh_number: str) -> list[Entitlement]:
        rows = self._conn().execute(
            "SELECT data FROM entitlements WHERE bhxh_number = %s ORDER BY valid_from DESC, card_number",
            (bhxh_number,),
        )
        return [self._ent(r) for r in rows]

    def entitlements_by_cccd(self, cccd_number: str) -> list[Entitlement]:
        rows = self._conn().execute(
            """SELECT e.data, e.valid_from, e.card_number FROM entitlements e
               WHERE e.cccd_number = %s
                  OR e.bhxh_number IN (SELECT l.bhxh_number FROM cccd_links l WHERE l.cccd_number = %s)
               ORDER BY e.valid_from DESC, e.card_number""",
            (cccd_number, cccd_number),
        )
        return [self._ent(r) for r in rows]

    # -- links ------------------------------------------------------------------------------------

    def link_cccd(self, cccd_number: str, bhxh_number: str, by_terminal: str, at: dt.datetime) -> None:
        check_cccd(cccd_number)
        check_bhxh(bhxh_number)
        with self._tx() as c:
            c.execute(
                """INSERT INTO cccd_links (cccd_number, bhxh_number, by_terminal,
                     linked_at) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (cccd_number) DO UPDATE SET bhxh_number = excluded.bhxh_number,
                     by_terminal = excluded.by_terminal, linked_at = excluded.linked_at""",
                (cccd_number, bhxh_number, by_terminal, aware(at)),
            )

    def linked_bhxh(self, cccd_number: str) -> CccdLink | None:
        row = (
            self._conn().execute("SELECT * FROM cccd_links WHERE cccd_number = %s", (cccd_number,)).fetchone()
        )
        if row is None:
            return None
        return CccdLink(row["cccd_number"], row["bhxh_number"], row["by_terminal"], _utc(row["linked_at"]))

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
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (cccd_number) DO UPDATE SET model_name = excluded.model_name,
                     model_version = excluded.model_version, nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext, enrolled_at = excluded.enrolled_at""",
                (cccd_number, model_name, model_version, nonce, ct, aware(at)),
            )

    def get_face_template(self, cccd_number: str) -> FaceTemplate | None:
        row = (
            self._conn()
            .execute("SELECT * FROM face_templates WHERE cccd_number = %s", (cccd_number,))
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
            cccd_number, plain, row["model_name"], row["model_version"], _utc(row["enrolled_at"])
        )

    # -- challenges -------------------------------------------------------------------------------

    def issue_challenge(self, record: ChallengeRecord) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO challenges
                   (challenge_id, terminal_id, nonce, aa_challenge, actions, issued_at, expires_at,
                     consumed_at)
                   VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, NULL)""",
                (
                    record.challenge_id,
                    record.terminal_id,
                    record.nonce,
                    record.aa_challenge,
                    json.dumps(list(record.actions)),
                    aware(record.issued_at),
                    aware(record.expires_at),
                ),
            )

    def consume_challenge(
        self, challenge_id: str, terminal_id: str, now: dt.datetime
    ) -> ChallengeRecord | ChallengeProblem:
        """Under READ COMMITTED a second concurrent UPDATE waits, re-checks the WHERE and matches nothing."""
        now = aware(now)
        with self._tx() as c:
            won = c.execute(
                """UPDATE challenges SET consumed_at = %s
                   WHERE challenge_id = %s AND terminal_id = %s AND consumed_at IS NULL AND expires_at > %s
                   RETURNING *""",
                (now, challenge_id, terminal_id, now),
            ).fetchone()
            if won is not None:
                return _challenge(won)
            row = c.execute("SELECT * FROM challenges WHERE challenge_id = %s", (challenge_id,)).fetchone()
        if row is None:
            return ChallengeProblem.UNKNOWN
        if row["terminal_id"] != terminal_id:
            return ChallengeProblem.TERMINAL_MISMATCH
        if row["consumed_at"] is not None:
            return ChallengeProblem.REPLAYED
        return ChallengeProblem.EXPIRED

    def purge_challenges(self, expired_before: dt.datetime) -> int:
        with self._tx() as c:
            return c.execute(
                "DELETE FROM challenges WHERE expires_at < %s", (aware(expired_before),)
            ).rowcount

    # -- lost / stolen ----------------------------------------------------------------------------

    def report_lost(self, document_key: str, reason: str, reporter: str, at: dt.datetime) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO lost_reports (document_key, reason, reporter,
                     reported_at) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (document_key) DO NOTHING""",
                (document_key, reason, reporter, aware(at)),
            )

    def is_reported_lost(self, document_key: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM lost_reports WHERE document_key = %s", (document_key,))
            .fetchone()
        )
        return row is not None

    def lost_report(self, document_key: str) -> LostReport | None:
        row = (
            self._conn()
            .execute("SELECT * FROM lost_reports WHERE document_key = %s", (document_key,))
            .fetchone()
        )
        if row is None:
            return None
        return LostReport(row["document_key"], row["reason"], row["reporter"], _utc(row["reported_at"]))

    # -- fraud events -----------------------------------------------------------------------------

    def record_verification(self, event: VerificationEvent) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO verification_events (document_key, facility, terminal_id, decision,
                     face_mismatch, at)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    event.document_key,
                    event.facility,
                    event.terminal_id,
                    event.decision,
                    event.face_mismatch,
                    aware(event.at),
                ),
            )

    def facilities_since(self, document_key: str, since: dt.datetime) -> frozenset[str]:
        rows = self._conn().execute(
            "SELECT DISTINCT facility FROM verification_events WHERE document_key = %s AND at >= %s",
            (document_key, aware(since)),
        )
        return frozenset(r["facility"] for r in rows)

    def face_mismatches_since(self, document_key: str, since: dt.datetime) -> int:
        row = (
            self._conn()
            .execute(
                """SELECT COUNT(*) AS n FROM verification_events
               WHERE document_key = %s AND face_mismatch AND at >= %s""",
                (document_key, aware(since)),
            )
            .fetchone()
        )
        return int(row["n"]) if row else 0

    def terminal_recent_decisions(self, terminal_id: str, last_n: int) -> dict[str, int]:
        rows = self._conn().execute(
            """SELECT decision, COUNT(*) AS n FROM
                 (SELECT decision FROM verification_events WHERE terminal_id = %s ORDER BY id DESC
                   LIMIT %s) AS r
               GROUP BY decision""",
            (terminal_id, last_n),
        )
        return {r["decision"]: int(r["n"]) for r in rows}

    # -- biometric locks --------------------------------------------------------------------------

    def lock_biometrics(self, document_key: str, until: dt.datetime) -> None:
        with self._tx() as c:
            c.execute(
                """INSERT INTO biometric_locks (document_key, until) VALUES (%s, %s)
                   ON CONFLICT (document_key) DO UPDATE SET until = GREATEST(biometric_locks.until,
                     excluded.until)""",
                (document_key, aware(until)),
            )

    def biometric_lock_until(self, document_key: str, now: dt.datetime) -> dt.datetime | None:
        row = (
            self._conn()
            .execute(
                "SELECT until FROM biometric_locks WHERE document_key = %s AND until > %s",
                (document_key, aware(now)),
            )
            .fetchone()
        )
        return None if row is None else _utc(row["until"])

    # -- audit ------------------------------------------------------------------------------------

    def append_audit(self, build: Callable[[int, str], AuditEntry]) -> AuditEntry:
        """The table lock serialises appenders (readers are unaffected), so the chain never forks."""
        with self._tx() as c:
            c.execute("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
            row = c.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, head = (0, GENESIS_HASH) if row is None else (int(row["seq"]) + 1, str(row["hash"]))
            entry = build(seq, head)
            if entry.seq != seq or entry.prev_hash != head:
                raise AuditConflictError("audit entry does not extend the current head")
            c.execute(
                "INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (%s, %s, %s, %s)",
                (entry.seq, entry.prev_hash, entry.hash, entry.body),
            )
        return entry

    def audit_head(self) -> tuple[int, str]:
        row = self._conn().execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS_HASH) if row is None else (int(row["seq"]) + 1, str(row["hash"]))

    def iter_audit(self, from_seq: int = 0) -> Iterator[AuditEntry]:
        next_seq = from_seq
        while True:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, prev_hash, hash, body FROM audit_log WHERE seq >= %s ORDER BY seq LIMIT 500",
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
        at = aware(at)
        seen: set[bytes] = set()
        with self._tx() as c:
            c.execute("DELETE FROM frame_hashes WHERE seen_at < %s", (at - self._frame_ttl,))
            for d in digests:
                cur = c.execute(
                    "INSERT INTO frame_hashes (digest, seen_at) VALUES (%s, %s) ON CONFLICT "
                    "(digest) DO NOTHING",
                    (bytes(d), at),
                )
                if cur.rowcount == 0:
                    seen.add(bytes(d))
        return frozenset(seen)

    def frame_hash_seen(self, digest: bytes) -> bool:
        row = (
            self._conn().execute("SELECT 1 FROM frame_hashes WHERE digest = %s", (bytes(digest),)).fetchone()
        )
        return row is not None

    def prune_frame_hashes(self, older_than: dt.datetime) -> int:
        with self._tx() as c:
            return c.execute("DELETE FROM frame_hashes WHERE seen_at < %s", (aware(older_than),)).rowcount

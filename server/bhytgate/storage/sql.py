"""One SQL implementation of `Store` for both engines; `Dialect` holds what differs.

Each thread gets its own connection (the asyncio service calls the store through a thread pool) and
every method is one short transaction. A database that cannot be reached, or a lock or statement
that waits past its bound, raises `StoreUnavailable` and drops the connection, so the next call
reconnects by itself. Timestamps are timezone-aware in and UTC out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from bhytgate.entitlement.model import Entitlement
from bhytgate.storage._codec import (
    TemplateSealer,
    check_bhxh,
    check_cccd,
    check_entitlement,
    entitlement_from_json,
    entitlement_to_json,
)
from bhytgate.storage.checkins import CheckinMixin
from bhytgate.storage.claims import ClaimMixin
from bhytgate.storage.dialect import Dialect, PostgresDialect, SqliteDialect
from bhytgate.storage.household import HouseholdMixin
from bhytgate.storage.interface import (
    CccdLink,
    ChallengeProblem,
    ChallengeRecord,
    FaceTemplate,
    LostReport,
    StoreUnavailable,
)
from bhytgate.storage.ledger import LedgerMixin
from bhytgate.storage.privacy import PrivacyMixin
from bhytgate.storage.registrations import RegistrationStoreMixin
from bhytgate.storage.review import ReviewMixin
from bhytgate.storage.revocations import RevocationMixin
from bhytgate.storage.schema import MIGRATIONS
from bhytgate.storage.shared import SharedStateMixin

# Placeholders only ({marks}: "?, ?, ..."), never values.
_CARDS_OF = {
    # a CCCD's own cards, and those of a social-insurance number linked to it (as check-in finds them)
    "cccd_number": """SELECT e.data, e.cccd_number AS via FROM entitlements e WHERE e.cccd_number IN ({marks})
        UNION ALL SELECT e.data, l.cccd_number AS via FROM entitlements e
          JOIN cccd_links l ON l.bhxh_number = e.bhxh_number WHERE l.cccd_number IN ({marks})""",
    "bhxh_number": "SELECT data, cccd_number AS via FROM entitlements WHERE bhxh_number IN ({marks})",
}

_PUT_TEMPLATE = """INSERT INTO face_templates (cccd_number, model_name, model_version, nonce,
     ciphertext, enrolled_at, consent_id)
   VALUES (?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (cccd_number) DO UPDATE SET model_name = excluded.model_name,
     model_version = excluded.model_version, nonce = excluded.nonce,
     ciphertext = excluded.ciphertext, enrolled_at = excluded.enrolled_at,
     consent_id = excluded.consent_id"""
_PUT_TEMPLATE_UNLESS_NEWER = _PUT_TEMPLATE + " WHERE face_templates.enrolled_at < ?"


class Tx:
    """A connection inside one transaction, speaking `?` placeholders whatever the engine."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.d = dialect

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.d.sql(statement), tuple(params))

    def one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(statement, params).fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(statement, params).fetchall())

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement over many parameter rows (a cursor's executemany: psycopg pipelines it)."""
        if rows:
            self.conn.cursor().executemany(self.d.sql(statement), [tuple(r) for r in rows])


class SqlStore(
    LedgerMixin,
    SharedStateMixin,
    ReviewMixin,
    RegistrationStoreMixin,
    CheckinMixin,
    ClaimMixin,
    HouseholdMixin,
    PrivacyMixin,
    RevocationMixin,
):
    """`Store` over a `Dialect`. `close()` closes every thread's connection."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        template_key: bytes | None,
        frame_hash_ttl: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self._d = dialect
        self._sealer_key: TemplateSealer | None = (
            None if template_key is None else TemplateSealer(template_key)
        )
        self._frame_ttl = frame_hash_ttl
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._migrate()

    @property
    def engine(self) -> str:
        return self._d.name

    def use_template_key(self, key: bytes) -> None:
        """A cluster's template key is one of its secrets, read from this very store after opening."""
        self._sealer_key = TemplateSealer(key)

    @property
    def _sealer(self) -> TemplateSealer:
        if self._sealer_key is None:
            raise RuntimeError("no template key configured for this store")
        return self._sealer_key

    # -- connections and transactions -------------------------------------------------------------

    def _conn(self) -> Any:
        if self._closed:
            raise RuntimeError("store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._d.connect()
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        """Forget a connection that failed: the next call on this thread opens a new one."""
        self._local.conn = None
        with self._conns_lock:
            if conn in self._conns:
                self._conns.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()

    @contextlib.contextmanager
    def _tx(self, *, write: bool = True, durable: bool = True) -> Iterator[Tx]:
        """One transaction (writers take SQLite's lock at BEGIN: no lock-upgrade deadlocks).

        `durable=False`: on PostgreSQL the commit does not wait for the WAL flush (lost only if the
        database server itself crashes within a fraction of a second). Used for state no guarantee
        rests on after such a crash (issued challenges, rate windows, frame memory, sessions);
        consumed challenges, audit records, the fraud ledger, lost reports and templates stay
        durable. SQLite's WAL mode with synchronous=NORMAL already commits without a flush."""
        conn: Any = None
        try:
            conn = self._conn()
            try:
                conn.execute(self._d.begin(write))
            except Exception as exc:
                if not self._d.is_unavailable(exc) or self._d.name != "postgres":
                    raise
                # A connection the server dropped while idle: nothing was sent yet, one fresh try.
                self._drop(conn)
                conn = self._conn()
                conn.execute(self._d.begin(write))
            if not durable and self._d.name == "postgres":
                conn.execute("SET LOCAL synchronous_commit = off")
            try:
                yield Tx(conn, self._d)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except Exception as exc:
            if not self._d.is_unavailable(exc):
                raise
            if conn is not None:
                self._drop(conn)
            # The driver's exception is not chained: its message may quote parameters.
            raise StoreUnavailable(self._d.describe(exc)) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tx]:
        """Autocommit reads (one statement each), with the same failure mapping as `_tx`."""
        conn: Any = None
        try:
            conn = self._conn()
            yield Tx(conn, self._d)
        except Exception as exc:
            if not self._d.is_unavailable(exc):
                raise
            if conn is not None:
                self._drop(conn)
            raise StoreUnavailable(self._d.describe(exc)) from None

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            for conn in self._conns:
                with contextlib.suppress(Exception):
                    conn.close()
            self._conns.clear()

    def _migrate(self) -> None:
        with self._tx() as c:
            # Replicas starting together must not race to create the same tables (PostgreSQL: an
            # advisory lock; SQLite: BEGIN IMMEDIATE already serialises).
            self._d.prepare_migration(c)
            c.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at "
                + self._d.types["ts"]
                + " NOT NULL)"
            )
            # By set, not by maximum: numbers are given out per change, so a database may hold a
            # later one (10) before an earlier one (9) is merged; that one still applies then.
            applied = {int(r["version"]) for r in c.all("SELECT version FROM schema_version")}
            now = self._d.ts(dt.datetime.now(dt.UTC))
            for version, statements in sorted(MIGRATIONS, key=lambda m: m[0]):
                if version in applied:
                    continue
                for engine, stmt in statements:
                    if engine in ("*", self._d.name):
                        # Static DDL without parameters: sent as is (no placeholder rewriting).
                        c.conn.execute(stmt.format(**self._d.types))
                c.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now))

    def schema_version(self) -> int:
        with self._read() as c:
            return int(c.one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")["v"])

    def _ts(self, value: dt.datetime) -> Any:
        return self._d.ts(value)

    def _from_ts(self, value: Any) -> dt.datetime:
        return self._d.from_ts(value)

    # -- entitlements -----------------------------------------------------------------------------

    def upsert_entitlements(self, records: Sequence[Entitlement]) -> int:
        """All or nothing: a bad record anywhere rolls back the whole import."""
        now = self._ts(dt.datetime.now(dt.UTC))
        for e in records:
            check_entitlement(e)
        with self._tx() as c:
            for e in records:
                c.execute(
                    """INSERT INTO entitlements (card_number, bhxh_number, cccd_number, valid_from,
                         data, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT (card_number) DO UPDATE SET
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

    def _ent(self, row: Any) -> Entitlement:
        return entitlement_from_json(json.dumps(self._d.from_json(row["data"])))

    def entitlement_by_card(self, card_number: str) -> Entitlement | None:
        with self._read() as c:
            row = c.one("SELECT data FROM entitlements WHERE card_number = ?", (card_number,))
        return None if row is None else self._ent(row)

    def entitlements_by_bhxh(self, bhxh_number: str) -> list[Entitlement]:
        with self._read() as c:
            rows = c.all(
                "SELECT data FROM entitlements WHERE bhxh_number = ? ORDER BY valid_from DESC, card_number",
                (bhxh_number,),
            )
        return [self._ent(r) for r in rows]

    def entitlements_by_cccd(self, cccd_number: str) -> list[Entitlement]:
        """The CCCD's own cards, and those of a social-insurance number linked to it."""
        with self._read() as c:
            rows = c.all(
                """SELECT e.data, e.valid_from, e.card_number FROM entitlements e
                   WHERE e.cccd_number = ?
                      OR e.bhxh_number IN (SELECT l.bhxh_number FROM cccd_links l WHERE l.cccd_number = ?)
                   ORDER BY e.valid_from DESC, e.card_number""",
                (cccd_number, cccd_number),
            )
        return [self._ent(r) for r in rows]

    def cards_of_people(
        self, cccd_numbers: Sequence[str], bhxh_numbers: Sequence[str]
    ) -> list[tuple[str | None, Entitlement]]:
        """Every card held under any of these CCCD or social-insurance numbers, a CCCD's linked
        cards included (an import checks a provincial office's rows against them), each with the
        CCCD it is held under (its own, or the one linked to its social-insurance number; None for
        neither), in queries of at most 500 numbers."""
        found: dict[tuple[str, str], tuple[str | None, Entitlement]] = {}
        for column, numbers in (
            ("cccd_number", sorted(set(cccd_numbers))),
            ("bhxh_number", sorted(set(bhxh_numbers))),
        ):
            for i in range(0, len(numbers), 500):
                chunk = numbers[i : i + 500]
                marks = ", ".join("?" for _ in chunk)
                with self._read() as c:
                    template = _CARDS_OF[column]
                    rows = c.all(template.format(marks=marks), chunk * template.count("{marks}"))
                for row in rows:
                    ent, via = self._ent(row), row["via"]
                    found[(ent.card_number, via or "")] = (via, ent)
        return [found[k] for k in sorted(found)]

    # -- links ------------------------------------------------------------------------------------

    def link_cccd(self, cccd_number: str, bhxh_number: str, by_terminal: str, at: dt.datetime) -> None:
        check_cccd(cccd_number)
        check_bhxh(bhxh_number)
        with self._tx() as c:
            c.execute(
                """INSERT INTO cccd_links (cccd_number, bhxh_number, by_terminal, linked_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (cccd_number) DO UPDATE SET bhxh_number = excluded.bhxh_number,
                     by_terminal = excluded.by_terminal, linked_at = excluded.linked_at""",
                (cccd_number, bhxh_number, by_terminal, self._ts(at)),
            )

    def linked_bhxh(self, cccd_number: str) -> CccdLink | None:
        with self._read() as c:
            row = c.one("SELECT * FROM cccd_links WHERE cccd_number = ?", (cccd_number,))
        if row is None:
            return None
        return CccdLink(
            row["cccd_number"], row["bhxh_number"], row["by_terminal"], self._from_ts(row["linked_at"])
        )

    # -- face templates (encrypted at rest) -------------------------------------------------------

    def put_face_template(
        self,
        cccd_number: str,
        template: bytes,
        model_name: str,
        model_version: str,
        at: dt.datetime,
        *,
        consent_id: int | None = None,
        unless_enrolled_since: dt.datetime | None = None,
    ) -> bool:
        """`consent_id`: the holder's consent the template is kept under (see storage/privacy.py).
        With `unless_enrolled_since`, a template enrolled at or after that moment is kept and False
        returned: one verification enrols once, and never over a newer enrolment."""
        check_cccd(cccd_number)
        nonce, ct = self._sealer.seal(cccd_number, model_name, model_version, template)
        params: tuple[Any, ...] = (cccd_number, model_name, model_version, nonce, ct, self._ts(at))
        with self._tx() as c:
            if unless_enrolled_since is None:
                cur = c.execute(_PUT_TEMPLATE, (*params, consent_id))
            else:
                since = self._ts(unless_enrolled_since)
                cur = c.execute(_PUT_TEMPLATE_UNLESS_NEWER, (*params, consent_id, since))
            return bool(cur.rowcount)

    def attach_template_consent(self, cccd_number: str, enrolled_at: dt.datetime, consent_id: int) -> None:
        """The consent a template written at `enrolled_at` is kept under (not a newer template's)."""
        with self._tx() as c:
            c.execute(
                "UPDATE face_templates SET consent_id = ? WHERE cccd_number = ? AND enrolled_at = ?",
                (consent_id, cccd_number, self._ts(enrolled_at)),
            )

    def get_face_template(self, cccd_number: str) -> FaceTemplate | None:
        with self._read() as c:
            row = c.one("SELECT * FROM face_templates WHERE cccd_number = ?", (cccd_number,))
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
            cccd_number, plain, row["model_name"], row["model_version"], self._from_ts(row["enrolled_at"])
        )

    # -- challenges -------------------------------------------------------------------------------

    def _challenge(self, row: Any) -> ChallengeRecord:
        return ChallengeRecord(
            challenge_id=row["challenge_id"],
            terminal_id=row["terminal_id"],
            nonce=bytes(row["nonce"]),
            aa_challenge=bytes(row["aa_challenge"]),
            actions=tuple(self._d.from_json(row["actions"])),
            issued_at=self._from_ts(row["issued_at"]),
            expires_at=self._from_ts(row["expires_at"]),
            consumed_at=None if row["consumed_at"] is None else self._from_ts(row["consumed_at"]),
            facility=row["facility"] or "",
        )

    def issue_challenge(self, record: ChallengeRecord) -> None:
        with self._tx(durable=False) as c:  # lost in a database crash: the Verify finds no challenge
            c.execute(
                """INSERT INTO challenges
                   (challenge_id, terminal_id, nonce, aa_challenge, actions, issued_at, expires_at,
                    consumed_at, facility)
                   VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)""",
                (
                    record.challenge_id,
                    record.terminal_id,
                    record.nonce,
                    record.aa_challenge,
                    json.dumps(list(record.actions)),
                    self._ts(record.issued_at),
                    self._ts(record.expires_at),
                    record.facility,
                ),
            )

    def consume_challenge(
        self, challenge_id: str, terminal_id: str, now: dt.datetime, *, facility: str
    ) -> ChallengeRecord | ChallengeProblem:
        """A conditional UPDATE: of two concurrent consumers exactly one matches (the second waits for
        the first's lock, re-checks `consumed_at IS NULL` and matches nothing). The terminal is its
        id at its facility: a same-named terminal of another facility cannot spend it."""
        at = self._ts(now)
        with self._tx() as c:
            won = c.one(
                """UPDATE challenges SET consumed_at = ?
                   WHERE challenge_id = ? AND terminal_id = ? AND facility = ? AND consumed_at IS NULL
                     AND expires_at > ?
                   RETURNING *""",
                (at, challenge_id, terminal_id, facility, at),
            )
            if won is not None:
                return self._challenge(won)
            row = c.one("SELECT * FROM challenges WHERE challenge_id = ?", (challenge_id,))
        if row is None:
            return ChallengeProblem.UNKNOWN
        if row["terminal_id"] != terminal_id or row["facility"] != facility:
            return ChallengeProblem.TERMINAL_MISMATCH
        if row["consumed_at"] is not None:
            return ChallengeProblem.REPLAYED
        return ChallengeProblem.EXPIRED

    def purge_challenges(self, expired_before: dt.datetime) -> int:
        """Expired challenges go, except a spent one still waiting for its record."""
        with self._tx() as c:
            return int(
                c.execute(
                    """DELETE FROM challenges
                       WHERE expires_at < ? AND (consumed_at IS NULL OR recorded_at IS NOT NULL)""",
                    (self._ts(expired_before),),
                ).rowcount
            )

    def unrecorded_challenges(self, consumed_before: dt.datetime, limit: int = 100) -> list[ChallengeRecord]:
        """Spent challenges whose Verify never wrote its record (a process killed mid-check)."""
        with self._read() as c:
            rows = c.all(
                """SELECT * FROM challenges WHERE recorded_at IS NULL AND consumed_at IS NOT NULL
                   AND consumed_at < ? ORDER BY consumed_at LIMIT ?""",
                (self._ts(consumed_before), limit),
            )
        return [self._challenge(r) for r in rows]

    # -- lost / stolen ----------------------------------------------------------------------------

    def report_lost(self, document_key: str, reason: str, reporter: str, at: dt.datetime) -> None:
        """The first report stands (its date decides which cards it blocks), except that a death
        replaces a lost or stolen report: it blocks every card, and was silently dropped behind an
        earlier "lost" (second review, 2026-12-03)."""
        with self._tx() as c:
            c.execute(
                """INSERT INTO lost_reports (document_key, reason, reporter, reported_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (document_key) DO UPDATE SET reason = excluded.reason,
                     reporter = excluded.reporter, reported_at = excluded.reported_at
                   WHERE excluded.reason = 'deceased' AND lost_reports.reason <> 'deceased'""",
                (document_key, reason, reporter, self._ts(at)),
            )

    def is_reported_lost(self, document_key: str) -> bool:
        return self.lost_report(document_key) is not None

    def lost_report(self, document_key: str) -> LostReport | None:
        with self._read() as c:
            row = c.one("SELECT * FROM lost_reports WHERE document_key = ?", (document_key,))
        if row is None:
            return None
        return LostReport(
            row["document_key"], row["reason"], row["reporter"], self._from_ts(row["reported_at"])
        )


class SqliteStore(SqlStore):
    """The embedded default: a SQLite file in WAL mode. `:memory:` is refused (per-thread connections)."""

    def __init__(
        self,
        path: Any,
        *,
        template_key: bytes | None,
        frame_hash_ttl: dt.timedelta = dt.timedelta(hours=24),
        busy_timeout_ms: int = 5000,
    ) -> None:
        if template_key is not None and len(template_key) != 32:
            raise ValueError("face template key must be 32 bytes (AES-256)")
        self._path = str(path)
        super().__init__(
            SqliteDialect(path, busy_timeout_ms=busy_timeout_ms),
            template_key=template_key,
            frame_hash_ttl=frame_hash_ttl,
        )


class PostgresStore(SqlStore):
    """The server engine: every table in one schema (default `bhytgate`), shared by all replicas."""

    def __init__(
        self,
        conninfo: str,
        *,
        template_key: bytes | None,
        schema: str = "bhytgate",
        frame_hash_ttl: dt.timedelta = dt.timedelta(hours=24),
        connect_timeout: int = 5,
        statement_timeout_ms: int = 5000,
        lock_timeout_ms: int = 2000,
    ) -> None:
        self._conninfo = conninfo
        self._schema = schema
        super().__init__(
            PostgresDialect(
                conninfo,
                schema=schema,
                connect_timeout=connect_timeout,
                statement_timeout_ms=statement_timeout_ms,
                lock_timeout_ms=lock_timeout_ms,
            ),
            template_key=template_key,
            frame_hash_ttl=frame_hash_ttl,
        )

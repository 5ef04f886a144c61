"""Adapters for the state a guarantee depends on, shared by every replica through the database:
the per-document lock, near-duplicate frame memory, counter sessions, the Begin rate limit and
terminal device keys. Each has a narrow interface; the gateway sees nothing else of them.

For the embedded SQLite default (one process) the document lock stays in-process; everything
else uses the same tables on both engines.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from bhytgate import ids
from bhytgate.face.liveness import FrameFingerprint, InMemoryFrameStore
from bhytgate.policy.model import Outcome
from bhytgate.service.model import FailedPrecondition, NotFound, RateLimited, Unavailable
from bhytgate.storage.interface import TemplateIntegrityError
from bhytgate.storage.sql import SqlStore

log = logging.getLogger("bhytgate.state")


class DocumentBusy(Unavailable):
    """Another check of the same document held it longer than the bounded wait."""


# --- the per-document lock ----------------------------------------------------------------------


class DocumentLock(Protocol):
    """One check per document at a time, across every replica: the fraud rules read the document's
    history before the face work and record the outcome after it."""

    def hold(self, doc_key: str) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def close(self) -> None: ...


class InProcessDocumentLock:
    """asyncio locks keyed by document, created on demand and dropped when nobody waits."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, doc_key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(doc_key, asyncio.Lock())
        self._waiters[doc_key] = self._waiters.get(doc_key, 0) + 1
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.wait_s)
            except TimeoutError:
                raise DocumentBusy(
                    f"another check of this document is still running (waited {self.wait_s:.0f} s)"
                ) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._waiters[doc_key] -= 1
            if self._waiters[doc_key] == 0:
                del self._waiters[doc_key]
                del self._locks[doc_key]

    async def close(self) -> None:
        return None


class PostgresDocumentLock:
    """A transaction-scoped advisory lock on the document pseudonym, held on a connection of its own
    for the length of the check; `lock_timeout` bounds the wait. A replica that dies releases its
    locks with its connections."""

    def __init__(self, conninfo: str, wait_s: float, *, max_idle: int = 16, connect_timeout: int = 5) -> None:
        self.conninfo = conninfo
        self.wait_s = wait_s
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self._idle: list[Any] = []

    async def _connection(self) -> Any:
        import psycopg

        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        try:
            return await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=self.connect_timeout
            )
        except psycopg.OperationalError:
            raise Unavailable("database unreachable (document lock)") from None

    async def _give_back(self, conn: Any, healthy: bool) -> None:
        if healthy and not conn.closed and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            with contextlib.suppress(Exception):
                await conn.close()

    @contextlib.asynccontextmanager
    async def hold(self, doc_key: str) -> AsyncIterator[None]:
        import psycopg

        conn = await self._connection()
        try:
            await conn.execute("BEGIN")
        except psycopg.OperationalError:
            # An idle connection the server dropped (restart, pg_terminate_backend): one fresh try.
            await self._give_back(conn, False)
            await self.close()  # the other idle ones were dropped with it
            conn = await self._connection()
            try:
                await conn.execute("BEGIN")
            except psycopg.OperationalError:
                await self._give_back(conn, False)
                raise Unavailable("database unreachable (document lock)") from None
        healthy = False
        try:
            try:
                # At least 1 ms: 0 would mean wait forever. The transaction idles while the face
                # work runs, so a server-wide idle timeout must not end it (and the lock with it).
                await conn.execute(f"SET LOCAL lock_timeout = {max(1, int(self.wait_s * 1000))}")
                await conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("doc:" + doc_key,)
                )
            except psycopg.errors.LockNotAvailable:
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                healthy = True
                raise DocumentBusy(
                    f"another check of this document is still running (waited {self.wait_s:.0f} s)"
                ) from None
            except psycopg.OperationalError:
                raise Unavailable("database unreachable (document lock)") from None
            try:
                yield
            finally:
                # Released even when the caller is cancelled: the next check must not wait for it.
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.execute("COMMIT"))
                    healthy = True
        finally:
            await self._give_back(conn, healthy)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()


# --- near-duplicate frames ----------------------------------------------------------------------


class SharedFrameMemory:
    """Perceptual hashes of recent frames, in the database for every replica and mirrored in a
    bounded in-memory index here (Hamming search over at most `capacity` frames).

    A check inserts its own fingerprints first, then pulls every row it has not seen: of two
    replicas checking near-identical frames at the same moment, at least one sees the other's.
    Row ids are handed out at insert but become visible at commit, so ids skipped by a pull
    (a transaction still open) are asked for again for `GAP_SECONDS` before they count as rolled
    back. A check's own rows are recognised by their SHA-256 (pending before the insert), so a
    concurrent check on this replica never loads them into the index before they are checked."""

    GAP_SECONDS = 30.0
    PAGE = 20_000

    def __init__(self, store: SqlStore, capacity: int, ttl: dt.timedelta) -> None:
        self.store = store
        self.capacity = capacity
        self.ttl = ttl
        self._index = InMemoryFrameStore(capacity)
        self._last_id = 0
        self._gaps: dict[int, float] = {}  # id skipped by a pull -> when first seen missing
        self._pending: collections.Counter[bytes] = collections.Counter()  # SHA-256 of checks under way
        self._lock = threading.Lock()
        self._loaded = False
        self._checks = 0

    def _pull(self, now: dt.datetime) -> None:
        since = now - self.ttl
        moment = time.monotonic()
        if not self._loaded:
            # Start from the newest `capacity` rows: the index holds no more than that anyway.
            self._last_id = max(0, self.store.fingerprint_head() - self.capacity)
            self._loaded = True
        self._gaps = {gap: t for gap, t in self._gaps.items() if moment - t < self.GAP_SECONDS}
        while True:
            rows = self.store.fingerprints_after(
                self._last_id, since, limit=self.PAGE, also=sorted(self._gaps)
            )
            fresh = [FrameFingerprint(r.sha256, r.phash) for r in rows if self._pending[r.sha256] == 0]
            self._index.remember(fresh)
            expected = self._last_id + 1
            for r in rows:
                self._gaps.pop(r.row_id, None)
                if r.row_id > self._last_id:
                    if r.row_id - expected <= 1000:  # an open transaction, not rows past their TTL
                        for missing in range(expected, r.row_id):
                            self._gaps.setdefault(missing, moment)
                    expected = r.row_id + 1
                    self._last_id = r.row_id
            if len(rows) < self.PAGE:
                return

    def check_and_remember(
        self, fingerprints: Sequence[FrameFingerprint], now: dt.datetime, max_hamming: int
    ) -> bool:
        """True when any frame is (nearly) identical to one of an earlier check, on any replica."""
        shas = [fp.sha256 for fp in fingerprints]
        with self._lock:
            self._pending.update(shas)
        try:
            self.store.add_fingerprints([(fp.sha256, fp.phash) for fp in fingerprints], now)
            with self._lock:
                self._pull(now)
                seen = any(self._index.seen(fp, max_hamming) for fp in fingerprints)
                self._index.remember(fingerprints)
                self._checks += 1
                prune = self._checks % 1000 == 0
        finally:
            with self._lock:
                self._pending.subtract(shas)
                self._pending += collections.Counter()  # drop the zeros
        if prune:
            self.store.prune_fingerprints(now - self.ttl)
        return seen


# --- counter sessions ---------------------------------------------------------------------------


class Session:
    """A recent verification, kept for counter follow-ups (enrolment, linking) on any replica."""

    __slots__ = (
        "assurance_level",
        "at",
        "cccd_number",
        "challenge_id",
        "chip_image",
        "facility",
        "holder",
        "identity_ok",
        "outcome",
        "reason_codes",
        "terminal_id",
    )

    def __init__(
        self,
        cccd_number: str,
        terminal_id: str,
        identity_ok: bool,
        outcome: Outcome,
        reason_codes: tuple[str, ...],
        chip_image: bytes | None,
        at: dt.datetime,
        holder: tuple[str | None, str | None] = (None, None),
        assurance_level: str | None = None,
        challenge_id: str | None = None,
        facility: str = "",
    ) -> None:
        self.cccd_number = cccd_number
        self.terminal_id = terminal_id
        self.identity_ok = identity_ok
        self.outcome = outcome
        self.reason_codes = reason_codes
        self.chip_image = chip_image
        self.at = at
        self.holder = holder
        # What remote registration needs of the check (bhytgate.registration): how strong it was
        # and which challenge it spent (the integrity token's nonce is bound to it).
        self.assurance_level = assurance_level
        self.challenge_id = challenge_id
        # Terminal ids are unique within a facility, not across them: ownership is both.
        self.facility = facility

    def made_by(self, terminal_id: str, facility: str) -> bool:
        """Whether this terminal (id and facility, as its certificate says) made the verification."""
        return self.terminal_id == terminal_id and self.facility == facility

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "cccd": self.cccd_number,
                "identity_ok": self.identity_ok,
                "outcome": self.outcome.value,
                "reasons": list(self.reason_codes),
                "chip_image": base64.b64encode(self.chip_image).decode() if self.chip_image else None,
                "holder": list(self.holder),
                "level": self.assurance_level,
                "challenge": self.challenge_id,
                "facility": self.facility,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes, terminal_id: str, at: dt.datetime) -> Session:
        obj = json.loads(data)
        image = obj["chip_image"]
        name, dob = obj["holder"]
        return cls(
            obj["cccd"],
            terminal_id,
            bool(obj["identity_ok"]),
            Outcome(obj["outcome"]),
            tuple(obj["reasons"]),
            base64.b64decode(image) if image else None,
            at,
            (name, dob),
            obj.get("level"),
            obj.get("challenge"),
            str(obj.get("facility") or ""),
        )


class Sessions:
    """Sessions in the database (sealed like templates), so they survive restarts and cross replicas."""

    def __init__(self, store: SqlStore, ttl: dt.timedelta) -> None:
        self.store = store
        self.ttl = ttl
        self._puts = 0

    def put(self, verification_id: str, session: Session) -> None:
        self.store.put_session(verification_id, session.terminal_id, session.at, session.to_bytes())
        self._puts += 1
        if self._puts % 500 == 0:
            self.store.purge_sessions(session.at - self.ttl)

    def get(self, verification_id: str, now: dt.datetime) -> Session | None:
        try:
            found = self.store.get_session(verification_id)
        except TemplateIntegrityError:
            return None  # a sealed row that fails authentication is no session
        if found is None:
            return None
        terminal, at, payload = found
        if now - at > self.ttl:
            return None
        return Session.from_bytes(payload, terminal, at)

    def owned(self, verification_id: str, terminal_id: str, facility: str, now: dt.datetime) -> Session:
        """The session of a follow-up call (enrol, link, renew, data rights, registration): it must
        exist and have been made by this terminal, id and facility (ids repeat across facilities)."""
        session = self.get(verification_id, now)
        if session is None:
            raise NotFound("no recent verification with this id")
        if not session.made_by(terminal_id, facility):
            raise FailedPrecondition("the verification was made at another terminal")
        return session


# --- the Begin rate limit -----------------------------------------------------------------------


class RateLimiter:
    """At most `limit` calls per terminal per minute, counted in the database (fixed one-minute
    windows), so a terminal spreading its calls over replicas gets no more.

    PostgreSQL rather than the machine's Redis: the limit guards the challenge table in the same
    database, one upsert per Begin is cheap next to the challenge's own insert, and it adds no
    second system whose outage would have to fail open or closed."""

    def __init__(self, store: SqlStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self._calls = 0

    def take(self, terminal_id: str, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        window = int(moment // 60)
        hits = self.store.hit_rate_window(f"begin:{terminal_id}", window)
        self._calls += 1
        if self._calls % 1000 == 0:
            self.store.purge_rate_windows(window - 2)
        if hits > self.limit:
            raise RateLimited(self.limit, 60 - (moment % 60))


# --- terminal device keys -----------------------------------------------------------------------


class TerminalKeys:
    """Registered terminal device keys (PEM), in the database; PEM files dropped into the home's
    terminal_keys/ folder are imported at start (the demo's way of registering)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def import_folder(self, folder: Path) -> int:
        """`<facility>/<terminal id>.pem` binds that facility's terminal; a `<terminal id>.pem`
        directly in the folder (the layout before facilities) binds the id in every facility."""
        count = 0
        if folder.is_dir():
            now = dt.datetime.now(dt.UTC)
            found = [(p, "") for p in sorted(folder.glob("*.pem"))]
            found += [
                (p, p.parent.name)
                for p in sorted(folder.glob("*/*.pem"))
                if ids.FACILITY_RE.fullmatch(p.parent.name)
            ]
            for path, facility in found:
                if not facility:
                    log.warning(
                        "terminal key %s has no facility folder: it binds terminal %s in every"
                        " facility; move it to %s/<facility>/",
                        path.name,
                        path.stem,
                        folder,
                    )
                text = path.read_text(encoding="ascii")
                self.store.put_terminal_key(path.stem, facility, text, now, replace=False)
                count += 1
        return count

    def register(self, terminal_id: str, facility: str, pem: str, now: dt.datetime) -> None:
        self.store.put_terminal_key(terminal_id, facility, pem, now)

    def get(self, terminal_id: str, facility: str) -> str | None:
        return self.store.terminal_key(terminal_id, facility)

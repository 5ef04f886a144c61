"""Statements and database time per check, counted inside the gateway process under test.

`install()` wraps every statement the process sends to its database, without touching the server's
code: `psycopg.Connection.execute` and `psycopg.AsyncConnection.execute` (the store and the
PostgreSQL document lock), and the connections `SqliteDialect.connect` returns. Each statement is
timed from the call to the return of `execute` (psycopg has the whole result by then; that includes
the loopback round trip, PostgreSQL's own work, the commit's WAL flush and any wait for the GIL
after the reply arrived: the database time *as the gateway sees it*).

Statements are attributed to the call that caused them through a context variable set by a wrapper
around `Gateway.begin` and `Gateway.verify` (what the servicer's BeginVerification and Verify call,
and what the in-process floor calls; `asyncio.to_thread` and the recorder's task copy the context,
so the store's threads and the audit record are included). Statements outside any call (connection
set-up, the orphan sweep) are counted as unattributed. Statements sent from the event loop (the
PostgreSQL document lock's async connection) are also totalled apart: their time includes the
wait for the loop to resume the handler, which under load is mostly not the database's.

Transactions are counted as the database counts them: each explicit BEGIN, and each statement sent
outside a transaction on an autocommit connection.

Enabled with `python -m benchmarks.load.server --db-stats` (or BHYTGATE_DB_STATS=1); reported by
the server's `stats` command as `db`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import threading
import time
from typing import Any

_WS = re.compile(r"\s+")
_NO_TX = ("BEGIN", "COMMIT", "ROLLBACK", "SET", "SAVEPOINT", "RELEASE")


class _Call:
    __slots__ = ("async_ms", "ms", "statements", "transactions")

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0
        self.ms = 0.0
        self.async_ms = 0.0


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("bench_db_call", default=None)


def statement_key(query: Any) -> str:
    """The statement's text, whitespace collapsed, cut to 72 characters (one row per statement)."""
    text = query if isinstance(query, str) else type(query).__name__
    return _WS.sub(" ", text).strip()[:72]


class DbStats:
    """Totals since the last `mark`, by statement and by RPC call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mark()

    def mark(self) -> dict[str, Any]:
        with self._lock:
            self.by_statement: dict[str, list[float]] = {}  # key -> [count, ms]
            self.unattributed = [0, 0.0]
            self.transactions = 0
            self.async_ms = 0.0
            # (rpc, challenge id, ok, end time, statements, transactions, ms, async ms, label)
            self.calls: list[tuple[str, str, bool, float, int, int, float, float, str]] = []
        return {"ok": True}

    def record(self, query: Any, ms: float, new_transaction: bool, *, from_loop: bool = False) -> None:
        key = statement_key(query)
        call = _CURRENT.get()
        with self._lock:
            row = self.by_statement.setdefault(key, [0, 0.0])
            row[0] += 1
            row[1] += ms
            self.transactions += int(new_transaction)
            if from_loop:
                self.async_ms += ms
            if call is None:
                self.unattributed[0] += 1
                self.unattributed[1] += ms
            else:
                call.statements += 1
                call.transactions += int(new_transaction)
                call.ms += ms
                if from_loop:
                    call.async_ms += ms

    def call_done(self, rpc: str, challenge_id: str, ok: bool, call: _Call, label: str = "") -> None:
        with self._lock:
            self.calls.append(
                (
                    rpc,
                    challenge_id,
                    ok,
                    time.time(),
                    call.statements,
                    call.transactions,
                    call.ms,
                    call.async_ms,
                    label,
                )
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            rows = sorted(self.by_statement.items(), key=lambda kv: -kv[1][1])
            return {
                "statements": sum(int(v[0]) for _, v in rows),
                "ms": sum(v[1] for _, v in rows),
                "transactions": self.transactions,
                "async_ms": self.async_ms,
                "unattributed": {"statements": self.unattributed[0], "ms": self.unattributed[1]},
                "by_statement": [{"statement": k, "count": int(v[0]), "ms": v[1]} for k, v in rows],
                "calls": [list(c) for c in self.calls],
            }


STATS: DbStats | None = None


def _starts_transaction(query: Any, idle: bool) -> bool:
    if not idle:
        return False
    head = statement_key(query).split(" ", 1)[0].upper()
    return head == "BEGIN" or head not in _NO_TX


def _patch_psycopg(stats: DbStats) -> None:
    import psycopg
    from psycopg import pq

    sync_execute = psycopg.Connection.execute
    async_execute = psycopg.AsyncConnection.execute

    @functools.wraps(sync_execute)
    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        idle = self.info.transaction_status == pq.TransactionStatus.IDLE
        start = time.perf_counter()
        try:
            return sync_execute(self, query, *args, **kwargs)
        finally:
            stats.record(query, (time.perf_counter() - start) * 1000, _starts_transaction(query, idle))

    @functools.wraps(async_execute)
    async def aexecute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        idle = self.info.transaction_status == pq.TransactionStatus.IDLE
        start = time.perf_counter()
        try:
            return await async_execute(self, query, *args, **kwargs)
        finally:
            ms = (time.perf_counter() - start) * 1000
            stats.record(query, ms, _starts_transaction(query, idle), from_loop=True)

    psycopg.Connection.execute = execute  # type: ignore[method-assign]
    psycopg.AsyncConnection.execute = aexecute  # type: ignore[method-assign]


class _SqliteConnection:
    """A sqlite3 connection whose `execute` is timed (sqlite3.Connection's cannot be patched)."""

    def __init__(self, conn: Any, stats: DbStats) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_stats", stats)

    def execute(self, query: Any, *args: Any) -> Any:
        idle = not self._conn.in_transaction
        start = time.perf_counter()
        try:
            return self._conn.execute(query, *args)
        finally:
            self._stats.record(query, (time.perf_counter() - start) * 1000, _starts_transaction(query, idle))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)


def _patch_sqlite(stats: DbStats) -> None:
    from bhytgate.storage.dialect import SqliteDialect

    connect = SqliteDialect.connect

    @functools.wraps(connect)
    def wrapped(self: SqliteDialect) -> Any:
        return _SqliteConnection(connect(self), stats)

    SqliteDialect.connect = wrapped  # type: ignore[method-assign]


def verify_label(inp: Any, result: Any) -> str:
    """What kind of check a Verify was, from what the gateway saw and said: frames and outcome."""
    frames = len(getattr(inp, "frames", ()) or ())
    reason = result.reasons[0].code if result.reasons else ""
    return f"{frames} frame(s) {result.outcome.value}{':' + reason if reason else ''}"


def _patch_gateway(stats: DbStats) -> None:
    from bhytgate.service.gateway import Gateway

    begin, verify = Gateway.begin, Gateway.verify

    @functools.wraps(begin)
    async def begin_wrapper(self: Any, caller: Any) -> Any:
        call, result = _Call(), None
        token = _CURRENT.set(call)
        try:
            result = await begin(self, caller)
            return result
        finally:
            _CURRENT.reset(token)
            cid = "" if result is None else str(result.challenge_id)
            stats.call_done("begin", cid, result is not None, call)

    @functools.wraps(verify)
    async def verify_wrapper(self: Any, caller: Any, inp: Any, **kwargs: Any) -> Any:
        call, result = _Call(), None
        token = _CURRENT.set(call)
        try:
            result = await verify(self, caller, inp, **kwargs)
            return result
        finally:
            _CURRENT.reset(token)
            label = "" if result is None else verify_label(inp, result)
            stats.call_done("verify", str(inp.challenge_id), result is not None, call, label)

    Gateway.begin = begin_wrapper  # type: ignore[method-assign]
    Gateway.verify = verify_wrapper  # type: ignore[method-assign]


def install() -> DbStats:
    """Patch this process (before the gateway starts); idempotent."""
    global STATS
    if STATS is None:
        STATS = DbStats()
        _patch_gateway(STATS)
        _patch_sqlite(STATS)
        with contextlib.suppress(ImportError):
            _patch_psycopg(STATS)
    return STATS


def _dist(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "count": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": ordered[-1],
    }


def per_check(calls: list[list[Any]]) -> dict[str, Any]:
    """Join the Begin and Verify calls of each check (from every replica: Begin on one replica and
    Verify on another is normal) and summarise statements, transactions and ms per check, overall
    and by what the check was (frames and outcome).

    A check is a Begin and the first answered Verify of its challenge; a later Verify of the same
    challenge is a replay (counted on its own); a Begin whose Verify was refused or failed is an
    attempt (its cost is in the totals, not in the per-check figures)."""
    begins: dict[str, list[Any]] = {}
    verifies: dict[str, list[list[Any]]] = {}
    for call in calls:
        rpc, cid, ok = call[0], call[1], call[2]
        if rpc == "begin" and ok:
            begins[cid] = call
        elif rpc == "verify" and ok:
            verifies.setdefault(cid, []).append(call)
    # (label, statements, transactions, ms, ms sent from the event loop)
    checks: list[tuple[str, int, int, float, float]] = []
    replays: list[tuple[str, int, int, float, float]] = []
    for cid, vs in verifies.items():
        vs.sort(key=lambda c: c[3])
        first, rest = vs[0], vs[1:]
        b = begins.get(cid)
        if b is not None:
            checks.append((first[8], b[4] + first[4], b[5] + first[5], b[6] + first[6], b[7] + first[7]))
        else:
            rest = vs
        replays.extend((c[8], c[4], c[5], c[6], c[7]) for c in rest)

    def summary(rows: list[tuple[str, int, int, float, float]]) -> dict[str, Any]:
        return {
            "checks": len(rows),
            "statements": _dist([float(c[1]) for c in rows]),
            "transactions": _dist([float(c[2]) for c in rows]),
            "ms": _dist([c[3] for c in rows]),
            "ms_in_threads": _dist([c[3] - c[4] for c in rows]),
        }

    labels = sorted({c[0] for c in checks})
    return {
        **summary(checks),
        "by_outcome": {label: summary([c for c in checks if c[0] == label]) for label in labels},
        "replays": len(replays),
        "replay_ms": _dist([c[3] for c in replays]),
        "begin_only": len(set(begins) - set(verifies)),
    }

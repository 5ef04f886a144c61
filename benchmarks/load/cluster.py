"""The replica matrix: the SQLite single process and 1, 2, 3 replicas over PostgreSQL, in one run.

    bhytgate bench --database postgresql://postgres@127.0.0.1:5432/bhytgate_bench --replicas 1,2,3

Order (nothing is measured while frames are rendered, a database is prepared or replicas start):
1. one fresh bench home (dev PKI, card lab, bench people, SQLite), the rendered mix, and the
   in-process compute floor (SQLite), as the single-process bench does;
2. the SQLite single process (`workers` face workers): warm-up, closed-loop capacity probe,
   open-loop steps at 50% and 70% of its capacity;
3. for each replica count N: a fresh PostgreSQL database (created here, dropped afterwards), the
   cluster initialised in it with a master key generated in the bench home, the demo citizens and
   the bench people imported; N replica processes (`benchmarks.load.server --database ...
   --master-key-file ...`, i.e. `start_gateway` as `bhytgate serve` runs it) with
   max(1, workers // N) face workers each; the generator round-robins every call over the N
   addresses as the SDK does; then the same warm-up, probe and steps;
4. the audit chain's append rate with 1 and 3 writer processes (`benchmarks.audit_append`).

Database cost per check comes from two places: inside each gateway process every statement is
counted and timed (`benchmarks.load.dbstats`, joined per check across replicas by challenge id),
and PostgreSQL's own `pg_stat_database` counters (transactions, tuples, `active_time`) over the
whole configuration, read after the replicas have exited (a backend flushes its counters when it
ends), plus per-step deltas (approximate: backends flush at most once a second). The CPU of the
PostgreSQL backends serving the bench database is read from /proc for each step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import multiprocessing
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.audit_append import postgres_settings
from benchmarks.machine import dlib_build, machine_info

from . import dbstats
from .generator import ChipBank, Generator, Recorder, cpu_seconds, rate_in_window
from .inproc import one_blas_thread
from .run import REPO, Options, Progress, Run, ServerProcess, TimeBudget
from .workload import BENCH_POLICY, BenchHome, prepare_home

PG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "blks_read",
    "blks_hit",
    "deadlocks",
    "active_time",
    "idle_in_transaction_time",
    "session_time",
    "sessions",
)
WAL_COUNTERS = ("wal_records", "wal_bytes", "wal_write", "wal_sync")
CLUSTER_LEVELS = (0.5, 0.7)
PG_AUX = ("walwriter", "checkpointer", "background writer")


@dataclasses.dataclass
class ClusterOptions(Options):
    database: str = "postgresql://postgres@127.0.0.1:5432/bhytgate_bench"
    replicas: Sequence[int] = (1, 2, 3)
    sqlite: bool = True  # the single-process SQLite configuration in the same run
    audit_records: int | None = None  # per writer; 0 skips the audit append measurement
    audit_writers: Sequence[int] = (1, 3)
    # One more configuration: 1 replica with synchronous_commit=off (not a recommendation: it
    # measures how much of the database time per check is the commits' WAL flush).
    nosync_variant: bool | None = None

    def resolved(self) -> ClusterOptions:
        o = dataclasses.replace(self)
        if o.smoke:
            defaults: dict[str, Any] = dict(
                step_s=2.0, levels=(0.5,), probe_s=3.0, floor_checks=3, budget_s=120.0, audit_records=20,
                nosync_variant=False,
            )  # fmt: skip
        elif o.quick:
            defaults = dict(
                step_s=8.0, levels=CLUSTER_LEVELS, probe_s=8.0, floor_checks=24, budget_s=330.0,
                audit_records=200, nosync_variant=False,
            )  # fmt: skip
        else:
            defaults = dict(
                step_s=40.0, levels=CLUSTER_LEVELS, probe_s=30.0, floor_checks=150, budget_s=1800.0,
                audit_records=2000, nosync_variant=True,
            )  # fmt: skip
        for key, value in defaults.items():
            if getattr(o, key) is None:
                setattr(o, key, value)
        o.baseline_floor_checks = 0
        o.baseline_levels = ()
        return o


def modified_files() -> list[str]:
    """Tracked files that differ from the commit recorded as the build (others may be editing)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=REPO,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line[3:] for line in out.splitlines() if line.strip()]


def workers_per_replica(total: int, replicas: int) -> int:
    """The face workers of the single process, split over the replicas (at least one each)."""
    return max(1, total // replicas)


# --- PostgreSQL --------------------------------------------------------------------------------


def split_database_url(url: str) -> tuple[str, str]:
    """postgresql://user@host:port/db -> (server URL without database, database name or prefix)."""
    from urllib.parse import urlsplit

    from benchmarks.audit_append import server_url

    name = urlsplit(url).path.strip("/") or "bhytgate_bench"
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"database name {name!r}: letters, digits and _ only")
    return server_url(url), name


class PgMonitor:
    """Counters of one database and CPU of the backends serving it, from a connection to `postgres`
    (so the monitor's own queries are not counted in the bench database)."""

    def __init__(self, server: str, dbname: str) -> None:
        import psycopg

        from benchmarks.audit_append import with_database

        self.dbname = dbname
        self.conn = psycopg.connect(with_database(server, "postgres"), autocommit=True, connect_timeout=5)
        self._cpu: dict[int, float] = {}
        self.backend_cpu_s = 0.0
        self.aux_cpu_s = 0.0
        self._aux: dict[int, float] = {}

    def counters(self) -> dict[str, float]:
        cols = ", ".join(PG_COUNTERS)
        row = self.conn.execute(
            f"SELECT {cols} FROM pg_stat_database WHERE datname = %s",
            (self.dbname,),
        ).fetchone()
        out = {k: float(v or 0) for k, v in zip(PG_COUNTERS, row or (), strict=False)}
        wal = self.conn.execute(f"SELECT {', '.join(WAL_COUNTERS)} FROM pg_stat_wal").fetchone()
        out |= {k: float(v or 0) for k, v in zip(WAL_COUNTERS, wal or (), strict=False)}
        return out

    def backends(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.dbname,)
        ).fetchone()
        return int(row[0]) if row else 0

    def cpu(self) -> dict[str, float | None]:
        """Cumulative CPU seconds of the database's backends (a backend that appears counts in full:
        it started since the last reading) and of PostgreSQL's shared writer processes."""
        rows = self.conn.execute(
            "SELECT pid, backend_type, datname FROM pg_stat_activity WHERE datname = %s"
            " OR backend_type = ANY(%s)",
            (self.dbname, list(PG_AUX)),
        ).fetchall()
        for pid, _backend_type, datname in rows:
            now = cpu_seconds(int(pid))
            if now is None:
                continue
            seen, total = (self._cpu, "backend") if datname == self.dbname else (self._aux, "aux")
            gained = now - seen.get(int(pid), 0.0)
            seen[int(pid)] = now
            if total == "backend":
                self.backend_cpu_s += max(0.0, gained)
            else:
                self.aux_cpu_s += max(0.0, gained)
        return {"postgres": self.backend_cpu_s, "postgres_shared": self.aux_cpu_s}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


# --- the replicas ------------------------------------------------------------------------------


def merge_db(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The `db` stats of several replicas as one: totals, statements by text, checks joined."""
    by: dict[str, list[float]] = {}
    calls: list[list[Any]] = []
    total = {"statements": 0.0, "ms": 0.0, "transactions": 0.0, "unattributed_statements": 0.0}
    for part in parts:
        total["statements"] += part["statements"]
        total["ms"] += part["ms"]
        total["transactions"] += part["transactions"]
        total["unattributed_statements"] += part["unattributed"]["statements"]
        for row in part["by_statement"]:
            entry = by.setdefault(row["statement"], [0.0, 0.0])
            entry[0] += row["count"]
            entry[1] += row["ms"]
        calls.extend(part["calls"])
    rows = sorted(by.items(), key=lambda kv: -kv[1][1])
    return {
        **total,
        "by_statement": [{"statement": k, "count": int(v[0]), "ms": v[1]} for k, v in rows],
        "per_check": dbstats.per_check(calls),
    }


class ReplicaSet:
    """N gateway processes measured as one (what `measure_step` needs of a gateway)."""

    def __init__(self, servers: Sequence[ServerProcess], monitor: PgMonitor | None) -> None:
        self.servers = list(servers)
        self.monitor = monitor
        self.address = ",".join(s.info["address"] for s in self.servers)
        self._pg_mark: dict[str, float] = {}

    def command(self, name: str) -> dict[str, Any]:
        replies = [s.command(name) for s in self.servers]
        if name == "mark":
            if self.monitor is not None:
                self._pg_mark = self.monitor.counters()
            return {"ok": all(r.get("ok") for r in replies)}
        if name != "stats":
            return {"replies": replies}
        merged: dict[str, Any] = {
            "replicas": [{k: v for k, v in r.items() if k != "db"} for r in replies],
            "samples": sum(r["samples"] for r in replies),
            "queue_depth_mean": sum(r["queue_depth_mean"] for r in replies),
            "queue_depth_p99": sum(r["queue_depth_p99"] for r in replies),
            "queue_depth_max": sum(r["queue_depth_max"] for r in replies),
            "inflight_mean": sum(r["inflight_mean"] for r in replies),
            "inflight_max": sum(r["inflight_max"] for r in replies),
            "loop_lag_p50_ms": max(r["loop_lag_p50_ms"] for r in replies),
            "loop_lag_p99_ms": max(r["loop_lag_p99_ms"] for r in replies),
            "loop_lag_max_ms": max(r["loop_lag_max_ms"] for r in replies),
            "shed": sum(r["shed"] for r in replies),
        }
        if all("db" in r for r in replies):
            merged["db"] = merge_db([r["db"] for r in replies])
        if self.monitor is not None:
            merged["pg"] = delta(self.monitor.counters(), self._pg_mark)
            merged["pg_backends"] = self.monitor.backends()
        return merged

    def cpu(self) -> dict[str, float | None]:
        parts = [s.cpu() for s in self.servers]

        def total(key: str) -> float | None:
            values = [p[key] for p in parts]
            return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

        out = {"server_main": total("server_main"), "face_workers": total("face_workers")}
        if self.monitor is not None:
            out |= self.monitor.cpu()
        return out

    def stop(self) -> list[int | None]:
        with concurrent.futures.ThreadPoolExecutor(len(self.servers)) as pool:
            return list(pool.map(lambda s: s.stop(), self.servers))


# --- the run -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Configuration:
    name: str
    engine: str  # sqlite | postgres
    replicas: int
    workers_per_replica: int
    # libpq's PGOPTIONS for every connection of the replicas (and of their in-process floor): the
    # "-nosync" variant runs with synchronous_commit=off, to show what the commits' WAL flushes cost.
    pgoptions: str = ""

    @property
    def workers(self) -> int:
        return self.replicas * self.workers_per_replica


def copy_entitlements(sqlite_path: Path, store: Any) -> int:
    """The bench people's entitlements (imported into the SQLite home) into another store."""
    from bhytgate.storage._codec import entitlement_from_json

    with contextlib.closing(sqlite3.connect(sqlite_path)) as conn:
        rows = conn.execute("SELECT data FROM entitlements").fetchall()
    records = [entitlement_from_json(r[0]) for r in rows]
    return int(store.upsert_entitlements(records))


class ClusterRun(Run):
    o: ClusterOptions

    def __init__(self, options: ClusterOptions, progress: Progress) -> None:
        super().__init__(options, progress)
        self.o = options.resolved()
        self.server_url, self.db_prefix = split_database_url(self.o.database)
        self.leftover: list[Any] = []

    def configurations(self) -> list[Configuration]:
        out = []
        if self.o.sqlite:
            out.append(Configuration("sqlite", "sqlite", 1, self.o.workers))
        for n in self.o.replicas:
            out.append(Configuration(f"postgres-{n}", "postgres", n, workers_per_replica(self.o.workers, n)))
        if self.o.nosync_variant:
            out.append(
                Configuration(
                    "postgres-1-nosync",
                    "postgres",
                    1,
                    workers_per_replica(self.o.workers, 1),
                    pgoptions="-c synchronous_commit=off",
                )
            )
        return out

    def prepare_database(self, config: Configuration) -> tuple[str, str]:
        """A fresh database with the cluster initialised and the bench's citizens imported."""
        from benchmarks.audit_append import create_database
        from bhytgate.service.cluster import open_store_with_keys
        from bhytgate.service.config import load_config
        from bhytgate_clients.devsetup import ensure_dev_home

        name = f"{self.db_prefix}_{config.replicas}r_{secrets.token_hex(3)}"
        url = create_database(self.server_url, name)
        home = self.bench.home
        cfg = load_config(home, database_url=url, master_key_file=self.master, init_cluster=True)
        ensure_dev_home(cfg, self.bench.faces, log=lambda *_: None)  # cluster, demo citizens
        store, _ = open_store_with_keys(cfg)
        try:
            copy_entitlements(home / "gateway.db", store)
        finally:
            store.close()
        return name, url

    def start(self, config: Configuration, url: str | None, label: str) -> list[ServerProcess]:
        extra = ["--db-stats"]
        if url is not None:
            extra += ["--database", url, "--master-key-file", str(self.master)]

        def one(index: int) -> ServerProcess:
            return ServerProcess(
                self.bench.home,
                config.workers_per_replica,
                self.o.queue_limit,
                baseline=False,
                log=self.tmp / f"{label}-{index}.log",
                extra_args=extra,
                extra_env={"PGOPTIONS": config.pgoptions} if config.pgoptions else None,
            )

        with concurrent.futures.ThreadPoolExecutor(config.replicas) as pool:
            futures = [pool.submit(one, i) for i in range(config.replicas)]
            servers: list[ServerProcess] = []
            errors: list[BaseException] = []
            for f in futures:
                try:
                    servers.append(f.result())
                except BaseException as exc:
                    errors.append(exc)
        if errors:
            for s in servers:
                s.stop()
            raise errors[0]
        return servers

    async def measure(self, config: Configuration, floor_mean_ms: float) -> dict[str, Any]:
        o = self.o
        assert o.probe_s is not None and o.step_s is not None and o.levels is not None
        label = config.name
        result: dict[str, Any] = {
            **dataclasses.asdict(config),
            "workers": config.workers,
            "steps": [],
            "notes": [],
        }
        self.require(o.probe_s + 2 * o.step_s + 40, f"{label}")
        db_name: str | None = None
        url: str | None = None
        monitor: PgMonitor | None = None
        if config.engine == "postgres":
            self.progress.phase(f"{label}: fresh database, cluster init, citizens")
            db_name, url = self.prepare_database(config)
            result["database"] = db_name
            if config.replicas == 1:
                result["floor"] = await self.floor_on(url, o.floor_checks or 1, config.pgoptions)
            monitor = PgMonitor(self.server_url, db_name)
        self.progress.phase(
            f"{label}: starting {config.replicas} replica(s) x {config.workers_per_replica} face worker(s)"
        )
        servers: list[ServerProcess] = []
        replicas: ReplicaSet | None = None
        generator: Generator | None = None
        totals_before: dict[str, float] | None = None
        sent_total = 0
        answered_total = 0
        try:
            servers = self.start(config, url, label)
            replicas = ReplicaSet(servers, monitor)
            result["addresses"] = replicas.address.split(",")
            result["pids"] = [{"main": s.pid, "workers": s.worker_pids} for s in servers]
            generator = Generator(
                replicas.address,
                self.bench.home,
                self.bench.cards,
                self.chips,
                channels_per_terminal=o.channels_per_terminal,
                deadline_s=o.deadline_s,
            )
            if self.leftover:
                generator.add_materials(self.leftover)
                self.leftover = []
            await generator.connect()
            await asyncio.sleep(0.5)  # round robin: let every subchannel connect
            if monitor is not None:
                totals_before = monitor.counters()
            ideal = config.workers / max(1e-3, floor_mean_ms / 1000)
            concurrency = config.workers + max(2, config.replicas)
            self.progress.phase(f"{label}: warm-up")
            warm_n = 2 if o.smoke else max(config.workers * 2 * config.replicas, min(24, int(ideal * 3)))
            self.top_up(generator, warm_n)
            warm_rec = Recorder()
            loop = asyncio.get_running_loop()
            t_warm = loop.time()
            warm_budget = 2.0 if o.smoke else 5.0 if o.quick else 10.0

            async def warm_terminal() -> None:
                assert generator is not None
                while generator.materials and loop.time() - t_warm < warm_budget and warm_rec.sent < warm_n:
                    await generator.one(loop.time(), warm_rec)

            await asyncio.gather(*(warm_terminal() for _ in range(concurrency)))
            sent_total += warm_rec.sent
            answered_total += warm_rec.latency.get_total_count()
            self.progress.phase(f"{label}: capacity probe ({concurrency} in flight, {o.probe_s:.0f} s)")
            self.top_up(generator, int(ideal * o.probe_s * 1.5) + 10)

            async def probe(rec: Recorder) -> float:
                assert generator is not None
                return await generator.closed_loop(concurrency, o.probe_s or 1.0, rec)

            rec, stats, t0, _ = await self.measure_step(replicas, generator, self.chips, probe, o.probe_s)
            sent_total += rec.sent
            answered_total += rec.latency.get_total_count()
            warm = min(3.0, o.probe_s / 4)
            capacity = rate_in_window(rec.ok_end_times, t0 + warm, t0 + o.probe_s)
            if capacity <= 0:
                capacity = rec.latency.get_total_count() / o.probe_s
            result["capacity_rps"] = capacity
            result["capacity_probe"] = self.slim(
                {
                    **self.step_report(rec, stats, o.probe_s, capacity, None),
                    "method": f"closed loop, {concurrency} checks in flight, {o.probe_s:.0f} s, "
                    f"completions counted after {warm:.1f} s",
                    "concurrency": concurrency,
                }
            )
            self.progress.advance(0.05)
            for level in o.levels:
                rate = max(0.2, capacity * level)
                self.require(o.step_s + min(o.deadline_s, 4.0) + 3, f"{label} step {level:.0%}")
                self.progress.phase(
                    f"{label}: {level:.0%} of capacity = {rate:.2f} checks/s for {o.step_s:.0f} s"
                )
                self.top_up(generator, int(rate * o.step_s * 1.3) + 8)

                async def shape(rec: Recorder, rate: float = rate) -> float:
                    assert generator is not None
                    return await generator.open_loop(
                        rate, o.step_s or 1.0, rec, seed=self.rng.getrandbits(32)
                    )

                rec, stats, _, _ = await self.measure_step(replicas, generator, self.chips, shape, o.step_s)
                sent_total += rec.sent
                answered_total += rec.latency.get_total_count()
                result["steps"].append(self.slim(self.step_report(rec, stats, o.step_s, rate, level)))
                self.progress.advance(0.05)
                await asyncio.sleep(0.3)
        except TimeBudget:
            result["notes"].append(f"stopped early to stay within the {o.budget_s:.0f} s bound")
        finally:
            if generator is not None:
                self.leftover = list(generator.materials)
                await generator.close()
            if replicas is not None:
                result["exit_codes"] = replicas.stop()
            for i in range(len(servers)):
                log = (self.tmp / f"{label}-{i}.log").read_text(encoding="utf-8", errors="replace")
                result.setdefault("server_log_tracebacks", 0)
                result["server_log_tracebacks"] += log.count("Traceback")
            if monitor is not None:
                if totals_before is not None:
                    # The replicas have exited: their backends flushed every counter on the way out.
                    for _ in range(20):
                        if monitor.backends() == 0:
                            break
                        time.sleep(0.25)
                    totals = delta(monitor.counters(), totals_before)
                    result["pg_totals"] = {
                        "counters": totals,
                        "calls_sent": sent_total,
                        "checks_answered": answered_total,
                        "per_answered_check": {k: v / max(1, answered_total) for k, v in totals.items()},
                        "note": "pg_stat_database of the bench database (exact: read after every backend "
                        "exited), from after the replicas were ready to after they stopped; pg_stat_wal is "
                        "server-wide (other databases' activity included). Per answered check of the "
                        "warm-up, probe and steps; shed calls' Begin calls are included in the totals.",
                    }
                monitor.close()
            if db_name is not None:
                from benchmarks.audit_append import drop_database

                with contextlib.suppress(Exception):
                    drop_database(self.server_url, db_name)
        return result

    async def floor_db(self, label: str, count: int, config: Any | None) -> dict[str, Any]:
        """The in-process floor (one check at a time, no gRPC) with every statement counted."""
        from .inproc import floor_summary, measure_floor

        self.progress.phase(f"{label}: {count} checks in-process, one at a time")
        warm = self.render(1 if self.o.smoke else max(4, len(self.bench.cards) // 6))
        checks = self.render(count)
        stats = dbstats.install()
        stats.mark()
        samples = await measure_floor(self.bench, checks, warmup=warm, config=config)
        summary = floor_summary(samples)
        # Statements of the uncounted warm-up checks included (the same database work per check).
        summary["db"] = merge_db([stats.stats()])
        summary["db"]["includes_warmup_checks"] = len(warm)
        return summary

    async def floor_on(self, url: str, count: int, pgoptions: str = "") -> dict[str, Any]:
        from bhytgate.service.config import load_config

        config = load_config(self.bench.home, database_url=url, master_key_file=self.master)
        previous = os.environ.get("PGOPTIONS")
        if pgoptions:
            os.environ["PGOPTIONS"] = pgoptions  # libpq reads it at connect time
        try:
            return await self.floor_db(f"compute floor (PostgreSQL {pgoptions}, in-process)", count, config)
        finally:
            if previous is None:
                os.environ.pop("PGOPTIONS", None)
            else:
                os.environ["PGOPTIONS"] = previous

    @staticmethod
    def slim(step: dict[str, Any]) -> dict[str, Any]:
        """A step without the raw per-call lists (kept as their per-check summary)."""
        db = step.get("server", {}).get("db")
        if db is not None:
            db["by_statement"] = db["by_statement"][:30]
        return step

    async def main(self) -> dict[str, Any]:  # type: ignore[override]
        o = self.o
        assert o.floor_checks is not None
        from bhytgate.service.cluster import new_master_key_file
        from bhytgate_clients.devsetup import default_faces_dir

        faces = o.faces or default_faces_dir() or REPO.parent / "shared" / "faces"
        report: dict[str, Any] = {
            "schema": "bhytgate-bench-cluster/1",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "mode": "smoke" if o.smoke else "quick" if o.quick else "full",
            "machine": machine_info(),
            "dlib_build": dlib_build(),
            "workers_total": o.workers,
            "workers_rule": "face workers per replica = max(1, workers // replicas): on this 2-core "
            "machine 2 for the SQLite process and 1 PostgreSQL replica, 1 each for 2 and 3 replicas "
            "(3 in all for 3 replicas: one more than the cores, and than the single process has)",
            "queue_limit": o.queue_limit,
            "deadline_s": o.deadline_s,
            "duration_per_step_s": o.step_s,
            "probe_s": o.probe_s,
            "channels": o.channels_per_terminal * 4,
            "mix": o.mix.as_dict(),
            "policy_overrides": BENCH_POLICY,
            "database_server": self.server_url.split("@")[-1],
            "postgres_settings": postgres_settings(self.server_url),
            "modified_files": modified_files(),
            "loadavg_start": os.getloadavg(),
            "floor_blas_threads": one_blas_thread(),
            "configurations": [],
        }
        with tempfile.TemporaryDirectory(prefix="bhytgate-bench-cluster-") as tmp:
            self.tmp = Path(tmp)
            self.progress.phase("preparing a fresh home: dev PKI, card lab, entitlements")
            self.bench: BenchHome = prepare_home(
                self.tmp / "home", faces, workers=o.workers, queue_limit=o.queue_limit
            )
            self.master = self.bench.home / "keys" / "bench-master.key"
            new_master_key_file(self.master)
            ctx = multiprocessing.get_context("spawn")
            self.render_pool: concurrent.futures.ProcessPoolExecutor | None = (
                concurrent.futures.ProcessPoolExecutor(o.render_processes, mp_context=ctx)
                if o.render_processes > 1
                else None
            )
            self.chips = ChipBank(self.bench.cards, process=o.chip_process)
            try:
                floor = await self.floor_db("compute floor (SQLite, in-process)", o.floor_checks, None)
                report["floor_ms"] = floor["median_ms"]
                report["floor"] = floor
                self.progress.advance(0.05)
                for config in self.configurations():
                    try:
                        report["configurations"].append(await self.measure(config, floor["mean"]))
                    except TimeBudget:
                        self.notes.append(f"{config.name}: skipped to stay within the bound")
                if o.audit_records:
                    self.progress.phase(f"audit chain: {list(o.audit_writers)} writers x {o.audit_records}")
                    from benchmarks.audit_append import run as audit_run

                    report["audit_append"] = await asyncio.to_thread(
                        audit_run,
                        self.o.database,
                        writers=o.audit_writers,
                        records=o.audit_records,
                        sqlite=o.sqlite,
                    )
            finally:
                self.chips.close()
                if self.render_pool is not None:
                    self.render_pool.shutdown(cancel_futures=True)
        report["elapsed_s"] = self.elapsed()
        report["loadavg_end"] = os.getloadavg()
        # Others may commit or edit while the run goes on: replicas import the tree as it is when
        # they start, the harness (and the in-process floors) as it was at the start.
        from benchmarks.machine import git_revision

        report["git_end"] = git_revision()
        report["modified_files_end"] = modified_files()
        if report["git_end"] != report["machine"].get("git") or report["modified_files_end"] != report.get(
            "modified_files"
        ):
            self.notes.append(
                f"the source tree changed during the run (git {report['machine'].get('git')} -> "
                f"{report['git_end']}, modified files {report.get('modified_files')} -> "
                f"{report['modified_files_end']}): processes started later ran the newer code; "
                "run from a pinned worktree (docs/benchmarks.md)"
            )
        report["truncated"] = bool(self.skipped)
        report["skipped"] = self.skipped
        report["notes"] = self.notes
        from .cluster_report import add_verdicts

        add_verdicts(report)
        return report


def run(options: ClusterOptions, progress: Progress | None = None) -> dict[str, Any]:
    return asyncio.run(ClusterRun(options, progress or Progress()).main())


__all__ = ["ClusterOptions", "ClusterRun", "ReplicaSet", "run", "workers_per_replica"]

"""The gateway under test, in its own process (so the load generator never shares its GIL).

    python -m benchmarks.load.server --home DIR --workers N --queue-limit Q [--baseline]
        [--database postgresql://... --master-key-file F] [--db-stats]

Prints one JSON line when it listens ({"address", "pid", "worker_pids"}), then answers commands on
stdin, one JSON line each: `mark` (start a measurement window), `stats` (queue depth, in-flight
checks, event-loop lag and shed count since the mark), `quit`. It samples the face pool every 10 ms.

With `--database` and `--master-key-file` it is one replica of a cluster, started exactly as
`bhytgate serve --database ... --master-key-file ...` starts one (`start_gateway` on the same
configuration; the cluster must already be initialised). `--db-stats` (or BHYTGATE_DB_STATS=1)
counts and times every statement the process sends (`benchmarks.load.dbstats`), reported by `stats`
as `db`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from benchmarks.load import dbstats
from bhytgate.face import FaceConfig
from bhytgate.service import assembly
from bhytgate.service.config import load_config
from bhytgate.service.server import RunningGateway, start_gateway
from bhytgate.service.workers import FacePool

SAMPLE_S = 0.010


class _BaselinePool(FacePool):
    """The gateway's pool with the naive face pipeline plugged in."""

    def __init__(self, config: FaceConfig, **options: Any) -> None:
        from benchmarks.baseline import baseline_face_job

        super().__init__(config, **{**options, "job_fn": baseline_face_job})


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sampler:
    def __init__(self, running: RunningGateway) -> None:
        self.running = running
        self.depth: list[int] = []
        self.inflight: list[int] = []
        self.lag_ms: list[float] = []
        self.overload: list[bool] = []  # admission's overload mode at each sample
        self.shed_at_mark = 0.0
        self.entries_at_mark = 0
        self.shed_by_at_mark: dict[str, int] = {}

    def _shed(self) -> float:
        value = self.running.metrics.registry.get_sample_value("bhytgate_shed_total")
        return float(value or 0.0)

    def mark(self) -> dict[str, Any]:
        if dbstats.STATS is not None:
            dbstats.STATS.mark()
        self.depth, self.inflight, self.lag_ms, self.overload = [], [], [], []
        self.shed_at_mark = self._shed()
        pool = self.running.pool
        self.entries_at_mark = pool.standing.entered
        self.shed_by_at_mark = dict(pool.shed_by)
        return {"ok": True}

    def stats(self) -> dict[str, Any]:
        pool = self.running.pool
        depth = [float(d) for d in self.depth]
        db = {} if dbstats.STATS is None else {"db": dbstats.STATS.stats()}
        return {
            **db,
            "samples": len(depth),
            "queue_depth_mean": sum(depth) / len(depth) if depth else 0.0,
            "queue_depth_p99": _quantile(depth, 0.99),
            "queue_depth_max": max(depth, default=0.0),
            "inflight_mean": sum(self.inflight) / len(self.inflight) if self.inflight else 0.0,
            "inflight_max": max(self.inflight, default=0),
            "loop_lag_p50_ms": _quantile(self.lag_ms, 0.5),
            "loop_lag_p99_ms": _quantile(self.lag_ms, 0.99),
            "loop_lag_max_ms": max(self.lag_ms, default=0.0),
            "shed": self._shed() - self.shed_at_mark,
            # Admission's overload mode: share of the samples in it, times entered, and the sheds
            # by the bound that refused them (queue_limit, max_wait, deadline, overload).
            "overload_share": sum(self.overload) / len(self.overload) if self.overload else 0.0,
            "overload_entries": pool.standing.entered - self.entries_at_mark,
            "shed_by": {
                k: v - self.shed_by_at_mark.get(k, 0)
                for k, v in pool.shed_by.items()
                if v - self.shed_by_at_mark.get(k, 0)
            },
        }

    async def run(self) -> None:
        pool = self.running.pool
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(SAMPLE_S)
            self.lag_ms.append(max(0.0, (loop.time() - before - SAMPLE_S) * 1000))
            self.depth.append(pool.queue_depth)
            self.inflight.append(pool.inflight)
            self.overload.append(pool.overloaded)


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def serve(
    home: Path,
    workers: int,
    queue_limit: int,
    baseline: bool,
    *,
    database: str | None = None,
    master_key_file: Path | None = None,
) -> None:
    if baseline:
        setattr(assembly, "FacePool", _BaselinePool)  # noqa: B010 - the baseline's pool (build_pool)
    config = load_config(
        home,
        listen="127.0.0.1:0",
        workers=workers,
        queue_limit=queue_limit,
        database_url=database,
        master_key_file=master_key_file,
    )
    running = await start_gateway(config, write_info=False)
    sampler = Sampler(running)
    task = asyncio.create_task(sampler.run())
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    _reply({"address": running.address, "pid": os.getpid(), "worker_pids": running.worker_pids})

    def read_commands() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "mark":
                future = asyncio.run_coroutine_threadsafe(_call(sampler.mark), loop)
            elif command == "stats":
                future = asyncio.run_coroutine_threadsafe(_call(sampler.stats), loop)
            elif command == "quit":
                break
            else:
                _reply({"error": f"unknown command {command!r}"})
                continue
            _reply(future.result(30))
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=read_commands, daemon=True).start()
    await done.wait()
    task.cancel()
    await running.stop(0.5)


async def _call(fn: Any) -> dict[str, Any]:
    result: dict[str, Any] = fn()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queue-limit", type=int, default=3)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--database", default=None, help="postgresql://... (default: SQLite in --home)")
    parser.add_argument("--master-key-file", type=Path, default=None)
    parser.add_argument("--db-stats", action="store_true", help="count and time every statement")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.db_stats or os.environ.get("BHYTGATE_DB_STATS") == "1":
        dbstats.install()
    asyncio.run(
        serve(
            args.home,
            args.workers,
            args.queue_limit,
            args.baseline,
            database=args.database,
            master_key_file=args.master_key_file,
        )
    )


if __name__ == "__main__":
    main()

"""Admission alone under open-loop load: the real FacePool (real worker processes) running jobs that
sleep for a desk or a liveness check's worker time, Poisson arrivals at fractions of capacity.

Why: the full bench measures admission through the whole gateway on a shared 2-core machine, where
another tenant's load moves capacity during a step. Sleeping jobs use no CPU, so this isolates the
policy (the deadline rule, overload mode) from the machine: a quick, repeatable check of what a
setting does to the shed rate below capacity and to the accepted latency above it.

    python -m benchmarks.admission_sim --levels 0.5,0.7,1.5 --seconds 20
    python -m benchmarks.admission_sim --overload-wait-jobs 1000   # overload mode never binds
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from bhytgate.face import FaceConfig, FaceEngine
from bhytgate.service.admission import AdmissionPolicy
from bhytgate.service.workers import FaceJob, FaceOutcome, FacePool, Overloaded, check_kind

DESK_MS, BURST_MS, BURST_SHARE = 70.0, 140.0, 0.45  # the bench's mix: medians of the two modes
PRE_MS, POST_MS = 10.0, 15.0  # main-process work around the face job (chip, records)


def sleeping_job(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    """A job's worker time, without its CPU: +-30% around the kind's median."""
    base = BURST_MS if len(job.frames) > 1 else DESK_MS
    time.sleep(base * random.uniform(0.7, 1.3) / 1000.0)
    return FaceOutcome(chip_distance=0.3, threshold=0.5)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _step(pool: FacePool, rate: float, seconds: float, rng: random.Random) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    in_mode: list[float] = []  # of checks admitted in overload mode
    shed: list[str] = []
    overload: list[bool] = []

    async def one(intended: float, frames: int) -> None:
        job = FaceJob(frames=tuple((b"x", i + 1) for i in range(frames)), now_ms=0)
        try:
            async with pool.slot(check_kind(frames), deadline_s=8.0):
                mode = pool.standing.mode
                await asyncio.sleep(PRE_MS / 1000)
                await pool.run(job, timeout=20)
                await asyncio.sleep(POST_MS / 1000)
        except Overloaded as exc:
            shed.append(str(exc))
            return
        latencies.append((loop.time() - intended) * 1000)
        if mode:
            in_mode.append(latencies[-1])

    tasks: list[asyncio.Task[None]] = []
    t = t0 = loop.time()
    while t - t0 < seconds:
        t += rng.expovariate(rate)
        await asyncio.sleep(max(0.0, t - loop.time()))
        overload.append(pool.overloaded)
        frames = 5 if rng.random() < BURST_SHARE else 1
        tasks.append(asyncio.create_task(one(t, frames)))
    await asyncio.gather(*tasks)
    sent = len(tasks)
    return {
        "sent": sent,
        "shed": len(shed),
        "shed_fraction": len(shed) / max(1, sent),
        "p50_ms": _quantile(latencies, 0.5),
        "p99_ms": _quantile(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
        "in_mode": len(in_mode),
        "in_mode_p99_ms": _quantile(in_mode, 0.99),
        "in_mode_max_ms": max(in_mode, default=0.0),
        "overload_share": sum(overload) / max(1, len(overload)),
        "by_bound": {b: sum(1 for m in shed if b in m) for b in ("overload", "latency", "waiting")},
    }


async def main(args: argparse.Namespace) -> None:
    policy = AdmissionPolicy(
        overload_interval_s=args.overload_interval_s,
        overload_target_jobs=args.overload_target_jobs,
        overload_wait_jobs=args.overload_wait_jobs,
    )
    pool = FacePool(FaceConfig(), workers=2, queue_limit=12, job_fn=sleeping_job, admission=policy)
    await pool.start()
    mean_ms = (1 - BURST_SHARE) * DESK_MS + BURST_SHARE * BURST_MS
    capacity = 2 / (mean_ms / 1000)
    floor = mean_ms + PRE_MS + POST_MS
    print(f"capacity {capacity:.1f}/s, floor (mean check) {floor:.0f} ms; {policy}")
    rng = random.Random(args.seed)
    try:
        for level in args.levels:
            r = await _step(pool, capacity * level, args.seconds, rng)
            print(
                f"{level:>5.0%}: sent {r['sent']:4d}  shed {r['shed']:4d} ({r['shed_fraction']:5.1%})"
                f"  p50 {r['p50_ms']:5.0f}  p99 {r['p99_ms']:5.0f} ms = {r['p99_ms'] / floor:4.1f}x floor"
                f"  overload {r['overload_share']:4.0%} (admitted in it: {r['in_mode']}, p99"
                f" {r['in_mode_p99_ms']:.0f}, max {r['in_mode_max_ms']:.0f} ms)  shed by {r['by_bound']}"
            )
            await asyncio.sleep(1.0)
    finally:
        await pool.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--levels", type=lambda s: [float(x) for x in s.split(",")], default=[0.5, 0.7, 1.5])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=1)
    defaults = AdmissionPolicy()
    p.add_argument("--overload-interval-s", type=float, default=defaults.overload_interval_s)
    p.add_argument("--overload-target-jobs", type=float, default=defaults.overload_target_jobs)
    p.add_argument("--overload-wait-jobs", type=float, default=defaults.overload_wait_jobs)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))

"""The latency a perfect queue would give: the bench's p99 targets against what queueing alone costs.

    python -m benchmarks.queue_bound benchmarks/results/NAME.json [--workers 2,3,4] [--checks 200000]

Why: the bench's targets are ratios (p99 at 50% of capacity <= 3x the compute floor, at 70% <= 5x).
A ratio does not move when every check gets faster by the same factor, so a faster face pipeline
cannot meet it; what it depends on is how unequal the checks are and how many workers share the
queue. This replays a run's measured floor (per kind of check: its share of the mix, its median and
p99, as a log-normal) through an ideal FIFO queue of `workers` servers fed Poisson arrivals, with
nothing else on the machine: no main process, no contention for cores, no network. What the bench
measured above these figures is the rest (the machine and the gateway's own overheads); what these
figures already exceed no scheduling of ours can reach.

Load is a fraction of the model's capacity (workers / mean floor), as the bench's steps are of its
probed capacity. Prints, per worker count, p99 and p99 / median floor at 25, 50 and 70%.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

LEVELS = (0.25, 0.5, 0.7)
Z99 = 2.326  # the standard normal's 99th percentile


def service_times(
    floor: dict[str, Any], mix: dict[str, float], n: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """`n` checks drawn from the mix, each kind's time log-normal through its measured p50 and p99."""
    kinds = [k for k in mix if k in floor["by_kind"]]
    shares = np.array([mix[k] for k in kinds], dtype=np.float64)
    drawn = rng.choice(len(kinds), size=n, p=shares / shares.sum())
    out = np.empty(n, dtype=np.float64)
    for i, kind in enumerate(kinds):
        stats = floor["by_kind"][kind]
        median = max(float(stats["p50"]), 1e-3)
        sigma = max(0.0, math.log(max(float(stats["p99"]), median) / median)) / Z99
        picked = drawn == i
        out[picked] = median * np.exp(sigma * rng.standard_normal(int(picked.sum())))
    return out


def fifo_sojourn(
    arrivals: Sequence[float] | npt.NDArray[np.float64], service: npt.NDArray[np.float64], workers: int
) -> npt.NDArray[np.float64]:
    """Each check's time from arrival to end in a FIFO queue of `workers` identical servers."""
    free = [0.0] * workers
    out = np.empty(len(service), dtype=np.float64)
    for i, (arrival, cost) in enumerate(zip(arrivals, service, strict=True)):
        start = max(float(arrival), heapq.heappop(free))
        heapq.heappush(free, start + float(cost))
        out[i] = start + float(cost) - float(arrival)
    return out


def bound(report: dict[str, Any], workers: int, checks: int, seed: int = 1) -> dict[str, Any]:
    """p99 (ms) and p99 / median floor at each load level for one worker count."""
    rng = np.random.default_rng(seed)
    floor, mix = report["floor"], report["mix"]
    median = float(floor["median_ms"])
    service = service_times(floor, mix, checks, rng)
    capacity = workers / float(service.mean())  # checks per ms
    levels = {}
    for level in LEVELS:
        arrivals = np.cumsum(rng.exponential(1.0 / (level * capacity), checks))
        sojourn = fifo_sojourn(arrivals, service, workers)[checks // 10 :]  # past the empty start
        p99 = float(np.percentile(sojourn, 99))
        levels[f"{round(level * 100)}%"] = {"p99_ms": round(p99, 1), "p99_vs_floor": round(p99 / median, 2)}
    return {"workers": workers, "floor_median_ms": median, "levels": levels}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a bench result (.json) with its floor by kind")
    parser.add_argument("--workers", default="2", help="comma-separated worker counts")
    parser.add_argument("--checks", type=int, default=200_000)
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    measured = {s["level"]: s for s in report.get("steps", []) if isinstance(s, dict) and "level" in s}
    for workers in (int(w) for w in args.workers.split(",")):
        result = bound(report, workers, args.checks)
        cells = ", ".join(
            f"{name}: p99 {v['p99_ms']:.0f} ms ({v['p99_vs_floor']:.2f}x)"
            for name, v in result["levels"].items()
        )
        print(f"{workers} workers, ideal FIFO queue: {cells}")
    floor = float(report["floor"]["median_ms"])
    cells = ", ".join(
        f"{round(float(level) * 100)}%: p99 {step['p99_ms']:.0f} ms ({step['p99_ms'] / floor:.2f}x)"
        for level, step in measured.items()
        if float(level) in LEVELS and step.get("p99_ms")
    )
    if cells:
        print(f"{report.get('workers')} workers, measured by the bench: {cells}")


if __name__ == "__main__":
    main()

"""How much of N cores this machine really gives N face workers.

Each process loads a FaceEngine and analyses one rendered frame (decode, detect, landmarks, embed) in
a loop for a few seconds: first one process alone, then N at once. `efficiency = rate_N / (N x rate_1)`.
Below 1 the cores are hyperthread siblings, throttled, or busy with someone else's work; capacity can
be no better than `efficiency x workers / floor` even before the gateway's own overheads.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from typing import Any


def _spin(frame: bytes, seconds: float, start_at: float) -> tuple[int, float, float]:
    from bhytgate.face import FaceEngine

    engine = FaceEngine()
    engine.analyze(frame)  # warm
    while time.time() < start_at:
        time.sleep(0.005)
    count, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        engine.analyze(frame)
        count += 1
    return count, time.perf_counter() - t0, time.process_time() - c0


def _run(processes: int, frame: bytes, seconds: float) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        start_at = time.time() + 5.0  # every process has loaded its models by then
        results = list(pool.map(_spin, [frame] * processes, [seconds] * processes, [start_at] * processes))
    rate = sum(c / w for c, w, _ in results)
    cpu_per_call = sum(cpu for _, _, cpu in results) / max(1, sum(c for c, _, _ in results))
    return {
        "rate_per_s": rate,
        "ms_per_call": 1000 * processes / rate if rate else 0.0,
        "cpu_ms_per_call": cpu_per_call * 1000,
    }


def scaling_probe(frame: bytes, workers: int, seconds: float) -> dict[str, Any]:
    one = _run(1, frame, seconds)
    many = _run(workers, frame, seconds) if workers > 1 else one
    efficiency = many["rate_per_s"] / (workers * one["rate_per_s"]) if one["rate_per_s"] else 0.0
    return {"processes": workers, "seconds": seconds, "one": one, "all": many, "efficiency": efficiency}

"""The ideal-queue bound (benchmarks/queue_bound.py): its FIFO queue is exact on small cases, and its
p99 grows with load and falls with workers, as queueing must."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.queue_bound import bound, fifo_sojourn, service_times  # noqa: E402  (the repository root)

FLOOR = {
    "median_ms": 50.0,
    "by_kind": {"slow": {"p50": 60.0, "p99": 80.0}, "fast": {"p50": 25.0, "p99": 90.0}},
}
REPORT = {"floor": FLOOR, "mix": {"slow": 0.5, "fast": 0.5, "absent": 0.1}}


def test_fifo_sojourn_is_exact_on_small_cases() -> None:
    service = np.array([10.0, 10.0, 10.0, 5.0])
    assert list(fifo_sojourn([0.0, 0.0, 0.0, 30.0], service, 2)) == [10.0, 10.0, 20.0, 5.0]
    assert list(fifo_sojourn([0.0, 1.0, 2.0, 3.0], service, 1)) == [10.0, 19.0, 28.0, 32.0]


def test_service_times_follow_each_kinds_median_and_tail() -> None:
    for kind, stats in FLOOR["by_kind"].items():
        drawn = service_times(FLOOR, {kind: 1.0}, 40_000, np.random.default_rng(3))
        assert abs(float(np.median(drawn)) / stats["p50"] - 1) < 0.03
        assert abs(float(np.percentile(drawn, 99)) / stats["p99"] - 1) < 0.05
    mixed = service_times(FLOOR, REPORT["mix"], 40_000, np.random.default_rng(3))
    assert 25.0 < float(np.median(mixed)) < 60.0 and mixed.min() > 0  # "absent" is not drawn


def test_p99_grows_with_load_and_falls_with_workers() -> None:
    one = bound(REPORT, 1, 20_000)["levels"]
    two = bound(REPORT, 2, 20_000)["levels"]
    four = bound(REPORT, 4, 20_000)["levels"]
    for levels in (one, two, four):
        assert levels["25%"]["p99_ms"] < levels["50%"]["p99_ms"] < levels["70%"]["p99_ms"]
    assert one["50%"]["p99_vs_floor"] > two["50%"]["p99_vs_floor"] > four["50%"]["p99_vs_floor"]

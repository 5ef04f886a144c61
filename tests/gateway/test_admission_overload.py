"""Admission's overload mode (service/admission.py): CoDel's standing-queue test on the face jobs'
waits, and the short budget it switches on; pure parts with an injected clock, then the pool's use
of them without worker processes (test_admission.py drives real workers)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import pytest

from bhytgate.face import FaceConfig
from bhytgate.service.admission import AdmissionPolicy, StandingQueue, decide
from bhytgate.service.metrics import Metrics
from bhytgate.service.workers import FacePool, Overloaded

TARGET = 25.0  # ms


def test_a_queue_that_stands_for_an_interval_is_overload() -> None:
    q = StandingQueue(1000.0)
    assert not q.overloaded(0.0)
    for now in range(0, 1000, 100):  # every job waited 200 ms: a queue, for 900 ms so far
        q.waited(float(now), 200.0, TARGET)
        assert not q.overloaded(float(now))
    assert q.overloaded(1000.0) and q.mode
    assert q.overloaded(1500.0) and q.entered == 1  # entered once, however often it is asked


def test_a_job_that_did_not_queue_or_a_free_worker_restarts_the_interval() -> None:
    q = StandingQueue(1000.0)
    q.waited(0.0, 200.0, TARGET)
    q.waited(900.0, TARGET, TARGET)  # waited no more than the target: no standing queue yet
    assert not q.overloaded(1200.0)
    q.waited(1300.0, 200.0, TARGET)
    q.worker_free(1500.0)
    q.waited(1600.0, 200.0, TARGET)
    assert not q.overloaded(2500.0)  # a new interval from 1600 ms
    assert q.overloaded(2600.0) and q.entered == 1


def test_overload_lasts_while_the_short_bound_refuses() -> None:
    """The short bound keeps the queue short on purpose: a job that found a worker free, or a
    free worker, is no sign that the load fell; QUIET_INTERVALS without a refusal are."""
    q = StandingQueue(1000.0)
    q.waited(0.0, 200.0, TARGET)
    assert q.overloaded(1000.0)  # entered: an interval's grace to refuse
    for now in range(1100, 5000, 100):
        q.waited(float(now), 0.0, TARGET)
        q.worker_free(float(now))
        q.refused(float(now))
        assert q.overloaded(float(now))
    assert StandingQueue.QUIET_INTERVALS == 4
    assert q.overloaded(8899.0)
    assert not q.overloaded(8900.0) and not q.mode  # nothing refused for 4 intervals: it fits
    assert q.entered == 1
    assert not q.overloaded(12000.0)  # a new standing queue is needed to enter again


def test_a_pool_that_stays_dry_ends_overload_a_moment_dry_does_not() -> None:
    q = StandingQueue(500.0)
    q.waited(0.0, 300.0, TARGET)
    assert q.overloaded(600.0, idle_ms=200.0)
    q.refused(650.0)
    q.idle(700.0)
    assert q.overloaded(850.0, idle_ms=200.0)  # dry for 150 ms: an arrival is due
    q.busy(860.0)  # it came
    q.idle(900.0)
    assert q.overloaded(1050.0, idle_ms=200.0)
    assert not q.overloaded(1100.0, idle_ms=200.0) and not q.mode  # dry for 200 ms: the load fell


def test_bursts_below_capacity_are_not_a_standing_queue() -> None:
    """At 70% of capacity jobs often find a free worker: one such job per interval keeps the
    gateway out of overload mode, however long the others waited."""
    q = StandingQueue(1000.0)
    for i in range(200):  # 20 s, a job every 100 ms; one in eight found a worker free
        now = i * 100.0
        q.waited(now, 0.0 if i % 8 == 0 else 400.0, TARGET)
        assert not q.overloaded(now)
    assert q.entered == 0


def test_a_wait_that_is_not_a_number_is_no_evidence_of_a_queue() -> None:
    q = StandingQueue(100.0)
    q.waited(0.0, math.nan, TARGET)
    assert not q.overloaded(1000.0)
    with pytest.raises(ValueError):
        StandingQueue(0.0)


def test_the_overload_bound_applies_only_when_tighter_and_names_itself() -> None:
    policy = AdmissionPolicy(deadline_fraction=0.75, max_wait_s=2.0)
    # 6 average jobs of 100 ms ahead on 2 workers: finishes at 400 ms
    normal = decide(policy, work_ahead_ms=600.0, rate=2.0, own_ms=100.0, deadline_s=8.0)
    assert normal.admit and normal.bound == "max_wait"
    tight = decide(policy, work_ahead_ms=600.0, rate=2.0, own_ms=100.0, deadline_s=8.0, overload_ms=300.0)
    assert not tight.admit and tight.bound == "overload" and tight.budget_ms == pytest.approx(300.0)
    assert "overload mode" in tight.explain("single") and "~400 ms" in tight.explain("single")
    # a caller with 0.3 s left is bound by its deadline (225 ms) even in overload mode
    short = decide(policy, work_ahead_ms=0.0, rate=2.0, own_ms=100.0, deadline_s=0.3, overload_ms=300.0)
    assert short.admit and short.bound == "deadline" and short.budget_ms == pytest.approx(225.0)
    assert "deadline" in decide(policy, work_ahead_ms=600.0, rate=2.0, own_ms=100.0, deadline_s=0.3).explain(
        "burst"
    )


def test_overload_settings_are_checked() -> None:
    for bad in (
        {"overload_interval_s": 0.0},
        {"overload_target_jobs": -1.0},
        {"overload_wait_jobs": 0.5},
    ):
        with pytest.raises(ValueError):
            AdmissionPolicy(**bad)  # type: ignore[arg-type]


def _pool_in_overload() -> FacePool:
    """A pool (no workers started) whose face queue has stood for two seconds, 100 ms jobs."""
    pool = FacePool(
        FaceConfig(), workers=2, queue_limit=32, admission=AdmissionPolicy(overload_wait_jobs=3.0)
    )
    for _ in range(50):
        pool.costs.learn("single", 100.0)
    pool.standing.waited(time.monotonic() * 1000.0 - 2000.0, 300.0, TARGET)
    return pool


def test_in_overload_mode_the_pool_admits_a_few_average_jobs_only() -> None:
    """With 3 average jobs as the bound (300 ms), k desk checks ahead on 2 workers finish at
    k*50 + 100 ms: 5 fit (k = 0..4), the 6th is refused by the overload bound where the 2 s
    bound would admit 39."""

    async def scenario() -> None:
        pool = _pool_in_overload()
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(5):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            assert pool.overloaded
            with pytest.raises(Overloaded, match=r"~350 ms; admitted up to 300 ms by overload mode"):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            assert pool.shed_by == {"overload": 1}
        assert pool.overloaded  # every slot left: dry, but for less than two average jobs
        await asyncio.sleep(0.25)  # two average jobs (200 ms) and more without face work
        assert not pool.overloaded
        async with pool.slot("single", deadline_s=8.0):
            assert not pool.overloaded

    asyncio.run(scenario())


def test_the_metrics_show_overload_mode() -> None:
    async def scenario() -> None:
        pool = _pool_in_overload()
        metrics = Metrics()
        metrics.track_pool(pool)
        assert metrics.registry.get_sample_value("bhytgate_admission_overload") == 1.0
        assert metrics.registry.get_sample_value("bhytgate_admission_overload_entries") == 1.0
        fresh = Metrics()
        fresh.track_pool(FacePool(FaceConfig(), workers=2, queue_limit=32))
        assert fresh.registry.get_sample_value("bhytgate_admission_overload") == 0.0

    asyncio.run(scenario())


def test_in_overload_mode_begin_is_refused_when_its_check_would_be() -> None:
    """`refuse_early`, what BeginVerification asks: None below capacity, however much is in
    flight; in overload mode the refusal the check would get at its Verify, counted as a shed."""

    async def scenario() -> None:
        calm = FacePool(FaceConfig(), workers=2, queue_limit=32)
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(6):
                await stack.enter_async_context(calm.slot("single", deadline_s=8.0))
            assert calm.refuse_early("single") is None  # no standing queue: Verify decides
        pool = _pool_in_overload()
        assert pool.refuse_early("single") is None  # nothing in flight: it would be admitted
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(4):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            assert pool.refuse_early("single") is None  # the 5th still fits (k = 4: 300 ms)
            await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            refusal = pool.refuse_early("single")
            assert isinstance(refusal, Overloaded) and "by overload mode" in str(refusal)
            assert pool.shed_by == {"overload": 1}
            assert pool.inflight == 5  # refusing reserves nothing

    asyncio.run(scenario())

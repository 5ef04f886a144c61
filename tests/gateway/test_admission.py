"""Admission control of the face worker pool: admit by expected completion within the caller's
deadline and the latency bound, each kind of check weighed by its measured cost; queue_limit bounds
the jobs that may wait (service/admission.py has the predictor; test_admission_predictor.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bhytgate.face import FaceConfig, FaceEngine
from bhytgate.service.admission import AdmissionPolicy
from bhytgate.service.workers import FaceJob, FaceOutcome, FacePool, FaceUnavailable, Overloaded


def test_slots_are_bounded_and_released() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=2, queue_limit=1)  # not started: admission only
        async with pool.slot(), pool.slot(), pool.slot():
            assert pool.inflight == 3 and pool.queue_depth == 1
            with pytest.raises(Overloaded):
                async with pool.slot():
                    pass
        assert pool.inflight == 0
        async with pool.slot():  # freed places are usable again
            assert pool.inflight == 1

    asyncio.run(scenario())


def test_a_failing_check_releases_its_slot() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=0)
        with pytest.raises(RuntimeError):
            async with pool.slot():
                raise RuntimeError("check failed")
        async with pool.slot():
            assert pool.inflight == 1

    asyncio.run(scenario())


def test_admission_weighs_checks_by_their_measured_cost() -> None:
    """With 2 workers and the 1 s bound, k desk checks of 100 ms ahead finish at k*100/2 + 100 ms:
    19 fit, the 20th is refused; a liveness burst (300 ms) counts three times as much."""

    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=2, queue_limit=32, admission=AdmissionPolicy(max_wait_s=1.0))
        for _ in range(200):
            pool.costs.learn("burst", 300.0)
            pool.costs.learn("single", 100.0)
        assert pool.costs.units("burst") == pytest.approx(3 * pool.costs.units("single"))
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(19):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            assert pool.work_ahead_ms == pytest.approx(1900.0)
            with pytest.raises(
                Overloaded, match=r"single check would finish .* ~1050 ms; admitted up to 1000"
            ):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
        assert pool.work_ahead_ms == pytest.approx(0.0) and pool.inflight == 0
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(5):  # 5 bursts ahead: 750 ms of draining, then 300 of its own
                await stack.enter_async_context(pool.slot("burst", deadline_s=8.0))
            with pytest.raises(Overloaded, match="burst"):
                await stack.enter_async_context(pool.slot("burst", deadline_s=8.0))
            async with pool.slot("single", deadline_s=8.0):  # a desk frame still fits: 850 ms
                pass
        assert pool.shed == 2

    asyncio.run(scenario())


def test_a_short_deadline_is_refused_sooner_than_a_long_one() -> None:
    """The caller's own deadline decides: with 0.5 s left (x 0.75 margin = 375 ms) only checks that
    would end by then are admitted; a caller with 8 s left is still admitted behind them."""

    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=2, queue_limit=32)
        for _ in range(50):
            pool.costs.learn("single", 100.0)
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(6):  # k ahead: k*50 + 100 <= 375 for k <= 5
                await stack.enter_async_context(pool.slot("single", deadline_s=0.5))
            with pytest.raises(Overloaded, match="admitted up to 375 ms"):
                await stack.enter_async_context(pool.slot("single", deadline_s=0.5))
            await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            with pytest.raises(Overloaded):  # a deadline already past admits nothing behind work
                await stack.enter_async_context(pool.slot("single", deadline_s=0.0))

    asyncio.run(scenario())


def test_the_queue_limit_still_bounds_waiting_jobs() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=2)
        for _ in range(50):
            pool.costs.learn("single", 1.0)  # cheap: the time bound would admit hundreds
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))
            with pytest.raises(Overloaded, match="2 face jobs waiting"):
                await stack.enter_async_context(pool.slot("single", deadline_s=8.0))

    asyncio.run(scenario())


def test_a_heavy_check_is_admitted_when_nothing_is_in_flight() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=0)
        for _ in range(50):
            pool.costs.learn("single", 10.0)
        pool.costs.learn("enrol", 5_000.0)  # far above the limit of one average check
        async with pool.slot("enrol"):
            with pytest.raises(Overloaded):
                async with pool.slot("single"):
                    pass

    asyncio.run(scenario())


def _slow_job(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    time.sleep(1.5)
    return FaceOutcome()


def test_an_abandoned_job_stays_counted_until_its_worker_is_free() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=0, job_fn=_slow_job)
        await pool.start()
        try:
            async with pool.slot("single"):
                with pytest.raises(TimeoutError):
                    await pool.run(FaceJob(frames=(), now_ms=0), timeout=0.2)
            # the caller is gone, the worker is not: admission still counts the job
            assert pool.inflight == 1 and pool.work_in_flight == pytest.approx(1.0)
            with pytest.raises(Overloaded):
                async with pool.slot("single"):
                    pass
            for _ in range(100):
                if pool.inflight == 0:
                    break
                await asyncio.sleep(0.05)
            assert pool.inflight == 0 and pool.work_in_flight == pytest.approx(0.0)
            async with pool.slot("single"):  # free again, and the job's real cost was learned
                assert pool.costs.units("single") == pytest.approx(1.0)
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_job_whose_caller_hangs_up_stays_counted_until_its_worker_is_free() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=0, job_fn=_slow_job)
        await pool.start()
        try:

            async def caller() -> None:
                async with pool.slot("single"):
                    await pool.run(FaceJob(frames=(), now_ms=0))

            task = asyncio.create_task(caller())
            await asyncio.sleep(0.3)  # the job is running in the worker
            task.cancel()  # what grpc.aio does to the handler when the terminal disconnects
            with pytest.raises(asyncio.CancelledError):
                await task
            assert pool.inflight == 1 and pool.work_in_flight == pytest.approx(1.0)
            with pytest.raises(Overloaded):
                async with pool.slot("single"):
                    pass
            for _ in range(100):
                if pool.inflight == 0:
                    break
                await asyncio.sleep(0.05)
            assert pool.inflight == 0 and pool.work_in_flight == pytest.approx(0.0)
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_job_the_executor_drops_is_unavailable_not_a_hang_up() -> None:
    """A pool rebuild cancels the queued jobs' futures: their callers did not hang up, so they get
    FaceUnavailable (a recorded INTERNAL_CHECK_UNAVAILABLE), not a cancellation."""

    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=4, job_fn=_slow_job)
        await pool.start()
        try:
            running = asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=0)))
            await asyncio.sleep(0.3)  # the first job holds the only worker
            # The executor hands one job beyond its workers to its call queue; the rest wait in it.
            queued = [asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=0))) for _ in range(3)]
            await asyncio.sleep(0.1)
            assert pool._executor is not None
            pool._executor.shutdown(wait=False, cancel_futures=True)
            outcomes = await asyncio.gather(*queued, return_exceptions=True)
            dropped = [o for o in outcomes if isinstance(o, FaceUnavailable)]
            assert dropped and "dropped" in str(dropped[0])
            assert not any(isinstance(o, asyncio.CancelledError) for o in outcomes)
            await running
        finally:
            await pool.close()

    asyncio.run(scenario())


def _refused_early(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    return FaceOutcome(liveness_failure="liveness_expired")


def _complete_quickly(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    time.sleep(0.01)
    return FaceOutcome(chip_distance=0.3, threshold=0.5)


def test_early_refusals_do_not_teach_admission_that_a_kind_is_cheap() -> None:
    async def scenario() -> None:
        burst = FaceJob(frames=((b"a", 1), (b"b", 2)), now_ms=0)
        for job_fn, learned in ((_refused_early, False), (_complete_quickly, True)):
            pool = FacePool(FaceConfig(), workers=1, queue_limit=0, job_fn=job_fn)
            await pool.start()
            try:
                for _ in range(3):
                    async with pool.slot("burst"):
                        await pool.run(burst, timeout=30)
                assert (pool.costs.estimate_ms("burst") is not None) is learned
            finally:
                await pool.close()

    asyncio.run(scenario())


def test_no_kind_costs_less_than_a_quarter_of_an_average_check() -> None:
    pool = FacePool(FaceConfig(), workers=2, queue_limit=3)
    for _ in range(100):
        pool.costs.learn("single", 1.0)
        pool.costs.learn("burst", 1_000.0)
    assert pool.costs.units("single") == pytest.approx(0.25)
    assert pool.costs.units("burst") > 1.0


def _tenth_of_a_second(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    time.sleep(0.1)
    return FaceOutcome(chip_distance=0.3, threshold=0.5)


def test_a_standing_queue_switches_on_overload_mode_until_it_drains() -> None:
    """One real worker, ten 100 ms jobs at once: after 0.3 s in which every job waited, a check
    that 5 s would admit is refused by the overload bound (3 average jobs); once the pool has
    stayed dry for two average jobs, overload mode ends and the same check is admitted."""

    async def scenario() -> None:
        policy = AdmissionPolicy(max_wait_s=5.0, overload_interval_s=0.3, overload_wait_jobs=3.0)
        pool = FacePool(FaceConfig(), workers=1, queue_limit=32, job_fn=_tenth_of_a_second, admission=policy)
        await pool.start()
        try:

            async def check() -> None:
                async with pool.slot("single", deadline_s=30.0):
                    await pool.run(FaceJob(frames=(), now_ms=0), timeout=30)

            tasks = [asyncio.create_task(check()) for _ in range(10)]
            for _ in range(200):
                if pool.standing.overloaded(time.monotonic() * 1000.0):
                    break
                await asyncio.sleep(0.01)
            assert pool.overloaded and pool.queue_depth >= 2
            with pytest.raises(Overloaded, match="by overload mode"):
                async with pool.slot("single", deadline_s=30.0):
                    pass
            await asyncio.gather(*tasks)
            await asyncio.sleep(0.3)  # the pool stays dry for two average jobs: the load fell
            assert not pool.overloaded and pool.standing.entered == 1
            async with pool.slot("single", deadline_s=30.0), pool.slot("single", deadline_s=30.0):
                pass  # admitted again
            assert pool.shed_by == {"overload": 1}
        finally:
            await pool.close()

    asyncio.run(scenario())

"""The face pipeline in worker processes.

dlib holds a core per call, so face work runs in a pool of spawned processes (each loads the
models once, before the server listens). Admission is by expected completion (admission.py): a
check is admitted when the work ahead of it, drained at the measured service rate, plus its own
expected cost (a moving average of worker time per kind of job: a liveness burst costs two to
three desk frames) fits within a share of the caller's remaining deadline and a latency bound;
beyond, it is refused at once (`Overloaded`, RESOURCE_EXHAUSTED) rather than queued behind work it
cannot outrun. Once the queue of face jobs has stood for an interval (every job waited for a
worker, none was free: `StandingQueue`), overload mode tightens that budget to a few average jobs
until the load fits again. `queue_limit` also bounds how many jobs may wait (memory, and the refusals'
latency under overload).

Failure and shutdown: a worker that dies (OOM killer, a crash in dlib) breaks the whole process
pool; every job it held, running or queued, fails with `FaceUnavailable` (retryable), and the pool
is rebuilt once per breakage in a task of its own, however many callers saw it break. The workers
never outlive the gateway: each one asks the kernel for SIGKILL when its parent dies
(PR_SET_PDEATHSIG, Linux) and also watches its parent pid, and `close` stops them within a bound,
killing any that a stuck job keeps busy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import AsyncIterator

from bhytgate.face import FaceConfig
from bhytgate.service.admission import AdmissionPolicy, CostModel, ServiceRate, StandingQueue, decide

# The worker side lives in facejob.py; these names stay importable from here.
from bhytgate.service.facejob import FaceJob as FaceJob
from bhytgate.service.facejob import FaceOutcome as FaceOutcome
from bhytgate.service.facejob import JobFn as JobFn
from bhytgate.service.facejob import LivenessSpec as LivenessSpec
from bhytgate.service.facejob import _CollectingStore as _CollectingStore
from bhytgate.service.facejob import _die_with_parent as _die_with_parent
from bhytgate.service.facejob import _init_worker, _ping, _run_with, _stop_executor
from bhytgate.service.facejob import _watch_parent as _watch_parent
from bhytgate.service.facejob import run_face_job as run_face_job

log = logging.getLogger("bhytgate.workers")


class Overloaded(Exception):
    """Every worker is busy and the bounded queue is full."""


class RateLimited(Exception):
    """A per-caller rate limit was reached (not overload): backoff within the window cannot help,
    waiting `retry_after_s` does. `str()` says which limit and when it resets."""

    def __init__(
        self, limit: int, retry_after_s: float, *, rpc: str = "BeginVerification", per: str = "a minute"
    ) -> None:
        self.limit = limit
        self.retry_after_s = max(0.0, retry_after_s)
        self.rpc = rpc
        self.per = per
        super().__init__(
            f"{rpc} limit of {limit} {per} for this terminal reached; "
            f"resets in {max(1, math.ceil(self.retry_after_s))} s"
        )


class FaceUnavailable(Exception):
    """A worker process died (crash, out of memory); the pool is being rebuilt."""


def check_kind(frames: int, *, enrol: bool = False) -> str:
    """What admission estimates the cost of: an enrolment, a burst of frames, or one frame.

    Decided from the request alone (the gateway takes the slot before it looks up the challenge),
    and the same function names the job when its cost is learned, so the two always agree."""
    if enrol:
        return "enrol"
    return "burst" if frames > 1 else "single"


def job_kind(job: FaceJob) -> str:
    return check_kind(len(job.frames), enrol=job.enrol)


def _complete(outcome: FaceOutcome) -> bool:
    """A job that ran the whole pipeline. Early refusals (a bad frame, an expired window) take a
    millisecond: learning from them would let a caller talk admission into underpricing a kind."""
    return not (outcome.capture_failure or outcome.liveness_failure or outcome.reference_failure)


_CostModel = CostModel  # the name tests and benchmarks knew


class _Reservation:
    """The expected face work a slot added to the work ahead; taken back once, when the slot's face
    job ends or the slot is left, whichever comes first (after its face job a check only records:
    counting it still would overstate the queue, and keep it full of work no worker will do)."""

    __slots__ = ("own", "released")

    def __init__(self, own: float) -> None:
        self.own = own
        self.released = False


# The slot the running task holds: `run` releases its reservation when the job ends.
_SLOT: contextvars.ContextVar[_Reservation | None] = contextvars.ContextVar("face_slot", default=None)


class FacePool:
    """Bounded admission in front of a spawn-context process pool."""

    STOP_TIMEOUT = 5.0  # seconds `close` lets the workers finish their jobs before killing them
    REBUILD_RETRY_SECONDS = 5.0  # after a failed rebuild, the next job tries again this much later
    # Overload mode ends once no check had face work for this many average jobs: at 150% of
    # capacity on 2 workers (~30 arrivals/s, ~100 ms jobs) a gap that long has odds of 0.4%, below
    # capacity the pool is dry that long within a second or two (one job: 6%, and it left too soon).
    IDLE_JOBS = 2.0

    def __init__(
        self,
        config: FaceConfig,
        *,
        workers: int,
        queue_limit: int,
        job_fn: JobFn | None = None,
        nice: int = 0,
        admission: AdmissionPolicy | None = None,
    ) -> None:
        """`job_fn` replaces the face pipeline (a module-level function: it is pickled to the
        workers); the benchmarks use it to run a naive baseline behind the same gateway. `nice`
        lowers the workers' CPU priority below the main process's."""
        self.job_fn = job_fn
        self.nice = max(0, nice)
        self.config = config
        self.workers = max(1, workers)
        self.queue_limit = max(0, queue_limit)
        self.stop_timeout = self.STOP_TIMEOUT
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._started = False
        self._closed = False
        self._rebuilding: asyncio.Task[None] | None = None
        self._last_rebuild = 0.0
        self.rebuilds = 0  # pool rebuilds started (one per breakage)
        self._inflight = 0
        self._orphans = 0  # jobs whose caller gave up (deadline) but that still occupy a worker
        self._work_ms = 0.0  # admitted work: expected worker ms of every job in flight
        self._orphan_ms = 0.0  # expected work of abandoned jobs that still occupy a worker
        self.costs = CostModel()
        self.admission = admission or AdmissionPolicy()
        self.service = ServiceRate(self.workers)
        self.standing = StandingQueue(self.admission.overload_interval_s * 1000.0)
        self._pending = 0  # admitted checks whose face work has not ended (a reservation held)
        self._face_jobs = 0  # jobs handed to the executor and not ended (orphans included)
        self.shed = 0  # calls refused by admission
        self.shed_by: dict[str, int] = {}  # refusals by the bound that refused them

    @property
    def overloaded(self) -> bool:
        """Overload mode now (the metrics gauge)."""
        return self._overloaded_at(time.monotonic() * 1000.0)

    def _overloaded_at(self, now_ms: float) -> bool:
        return self.standing.overloaded(now_ms, idle_ms=self.IDLE_JOBS * self._mean_job_ms)

    def _refuse(self, bound: str, message: str) -> Overloaded:
        self.shed += 1
        self.shed_by[bound] = self.shed_by.get(bound, 0) + 1
        return Overloaded(message)

    @property
    def inflight(self) -> int:
        return self._inflight + self._orphans

    @property
    def queue_depth(self) -> int:
        return max(0, self.inflight - self.workers)

    @property
    def pids(self) -> list[int]:
        """The live pool's worker pids (empty while it is being rebuilt or once closed)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(processes)

    async def start(self) -> list[int]:
        """Spawn every worker and load its models; returns the worker pids."""
        if self._closed:
            raise FaceUnavailable("face pool closed")
        self._started = True
        self._executor, pids = await self._spawn()
        return pids

    async def _spawn(self) -> tuple[concurrent.futures.ProcessPoolExecutor, list[int]]:
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(self.workers)
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.config, barrier, self.job_fn, self.nice, os.getpid()),
        )
        loop = asyncio.get_running_loop()
        try:
            # The workers are spawned here, from the event loop's thread (see `_die_with_parent`).
            pids = await asyncio.gather(*(loop.run_in_executor(executor, _ping) for _ in range(self.workers)))
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_stop_executor, executor, 0.0))
            raise
        return executor, sorted(set(pids))

    @property
    def work_ahead_ms(self) -> float:
        """Expected worker time of the admitted face work (abandoned jobs still running included)."""
        return self._work_ms + self._orphan_ms

    @property
    def work_in_flight(self) -> float:
        """Admitted face work in average jobs (the metrics gauge)."""
        return self.work_ahead_ms / self._mean_job_ms

    @property
    def _mean_job_ms(self) -> float:
        return self.costs.mean_ms or self.admission.default_job_ms

    def _job_ended(
        self,
        kind: str,
        submitted: float,
        reservation: _Reservation | None,
        done: asyncio.Future[tuple[FaceOutcome, float]],
    ) -> None:
        """What a job's end teaches: its worker time is retired work (the service rate, counted
        while it still occupied its worker), a complete job the cost of its kind, and its wait for
        a worker the standing-queue test. Then its check's work leaves the work ahead."""
        now_ms = time.monotonic() * 1000.0
        if not done.cancelled() and done.exception() is None:
            outcome, millis = done.result()
            self.service.completed(now_ms, self._face_jobs, millis)
            if _complete(outcome):
                self.costs.learn(kind, millis)
            target = self.admission.overload_target_jobs * self._mean_job_ms
            self.standing.waited(now_ms, (now_ms - submitted) - millis, target)
        self._face_jobs -= 1
        self._tick()
        self._release(reservation)

    def _tick(self) -> None:
        """The service rate counts time while every worker holds a job: jobs handed to the
        executor, not admitted checks (those may still be at their chip, or writing their record,
        while a worker idles: counting them made the rate, and so admission, fall under load)."""
        self.service.tick(time.monotonic() * 1000.0, self._face_jobs)

    @contextlib.asynccontextmanager
    async def slot(self, kind: str = "single", *, deadline_s: float | None = None) -> AsyncIterator[None]:
        """Admission: reserve the expected work of one check of this `kind` (see `job_kind`), or
        refuse at once when it would not finish within the share of `deadline_s` (the caller's
        remaining time) and the latency bound, or when `queue_limit` jobs already wait.

        In overload mode (a standing queue: `StandingQueue`) the budget is at most
        `overload_wait_jobs` average jobs. Taken before the check consumes anything (its
        challenge), so a refused caller can retry. A job always fits when nothing is in flight,
        however heavy it is."""
        own = self.costs.expected_ms(kind, self.admission.default_job_ms)
        now_ms = time.monotonic() * 1000.0
        # Evaluated on every arrival, the first after a lull included: the mode ends once the pool
        # stayed dry for IDLE_JOBS average jobs (under overload an arrival refills it sooner).
        overloaded = self._overloaded_at(now_ms)
        refusal = self._refusal(kind, own, now_ms, deadline_s=deadline_s, overloaded=overloaded)
        if refusal is not None:
            raise refusal
        self._inflight += 1
        self._work_ms += own
        self._pending += 1
        self.standing.busy(now_ms)
        reservation = _Reservation(own)
        token = _SLOT.set(reservation)
        try:
            yield
        finally:
            _SLOT.reset(token)
            self._inflight -= 1
            self._release(reservation)

    def _refusal(
        self, kind: str, own: float, now_ms: float, *, deadline_s: float | None, overloaded: bool
    ) -> Overloaded | None:
        """The refusal a check of `kind` (expected to cost `own` ms) arriving now gets, counted as
        a shed; None when it is admitted (always when nothing is in flight)."""
        if self.inflight == 0:
            return None
        if self.inflight >= self.workers + self.queue_limit:
            waiting = f"{self.queue_depth} face jobs waiting (limit {self.queue_limit})"
            return self._refuse("queue_limit", waiting)
        decision = decide(
            self.admission,
            work_ahead_ms=self.work_ahead_ms,
            rate=self.service.rate,
            own_ms=own,
            deadline_s=deadline_s,
            overload_ms=self.admission.overload_wait_jobs * self._mean_job_ms if overloaded else None,
        )
        if decision.admit:
            return None
        if decision.bound == "overload":
            self.standing.refused(now_ms)
        return self._refuse(decision.bound, decision.explain(kind))

    def refuse_early(self, kind: str) -> Overloaded | None:
        """In overload mode only: the refusal a check of `kind` arriving now would get at its
        Verify, so that BeginVerification refuses it before a challenge is issued (nothing spent;
        the terminal retries after a backoff, and the holder is not asked to turn their head for a
        check the gateway would refuse). Below capacity Begin never refuses: a terminal's Verify
        comes seconds later, when this prediction no longer holds. None when it would be admitted."""
        now_ms = time.monotonic() * 1000.0
        if not self._overloaded_at(now_ms):
            return None
        own = self.costs.expected_ms(kind, self.admission.default_job_ms)
        return self._refusal(kind, own, now_ms, deadline_s=None, overloaded=True)

    def _release(self, reservation: _Reservation | None) -> None:
        if reservation is not None and not reservation.released:
            reservation.released = True
            self._work_ms = max(0.0, self._work_ms - reservation.own)
            self._pending -= 1
            if self._pending < self.workers:
                # Fewer admitted checks with face work to do than workers: one is idle or about
                # to be, so nothing stands in the queue (a check admitted but still at its chip
                # counts: its job is on its way).
                now_ms = time.monotonic() * 1000.0
                self.standing.worker_free(now_ms)
                if self._pending == 0:
                    self.standing.idle(now_ms)

    async def run(self, job: FaceJob, *, timeout: float | None = None) -> FaceOutcome:
        """Run a job in a worker; the caller holds a `slot()`.

        Raises the job's own exception, TimeoutError past `timeout`, CancelledError when the caller
        is cancelled, and FaceUnavailable whenever the workers cannot run it (a worker died, the
        pool is being rebuilt or closed): that one is retryable."""
        executor = self._executor
        if executor is None:
            self._retry_rebuild()
            raise FaceUnavailable("face workers not running" if self._closed else "face workers restarting")
        loop = asyncio.get_running_loop()
        kind = job_kind(job)
        submitted = time.monotonic() * 1000.0
        try:
            future = loop.run_in_executor(executor, _run_with, job)
        except RuntimeError as exc:  # BrokenProcessPool, or shut down meanwhile
            self._broken(executor)
            raise FaceUnavailable("face workers restarting") from exc
        self._tick()
        self._face_jobs += 1
        self._tick()
        reservation = _SLOT.get()
        future.add_done_callback(functools.partial(self._job_ended, kind, submitted, reservation))
        try:
            # Shielded: a caller whose deadline passes (or who hangs up: the RPC is cancelled)
            # stops waiting, but the job keeps its worker until it ends, and admission keeps
            # counting it (an orphan) until then.
            outcome, _millis = await asyncio.wait_for(asyncio.shield(future), timeout)
            return outcome
        except (TimeoutError, asyncio.CancelledError) as exc:
            task = asyncio.current_task()
            caller_cancelled = task is not None and task.cancelling() > 0
            if isinstance(exc, asyncio.CancelledError) and future.cancelled() and not caller_cancelled:
                # Nobody cancelled the caller: the executor dropped the job (a pool rebuild).
                raise FaceUnavailable("face job dropped; workers restarting") from exc
            own = self.costs.expected_ms(kind, self.admission.default_job_ms)
            self._orphans += 1
            self._orphan_ms += own

            def _done(_: asyncio.Future[tuple[FaceOutcome, float]]) -> None:
                self._orphans -= 1
                self._orphan_ms = max(0.0, self._orphan_ms - own)

            future.add_done_callback(_done)
            raise
        except concurrent.futures.BrokenExecutor as exc:
            self._broken(executor)
            raise FaceUnavailable("a face worker died; workers restarting") from exc

    def _broken(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        """One rebuild per broken pool: every caller that saw `executor` break lands here, and only
        the first, while `executor` is still the live pool, replaces it."""
        if self._closed or executor is not self._executor:
            return
        self._executor = None
        log.error("face worker pool broken; restarting %d workers", self.workers)
        self._start_rebuild(executor)

    def _start_rebuild(self, broken: concurrent.futures.ProcessPoolExecutor | None) -> None:
        self.rebuilds += 1
        self._last_rebuild = time.monotonic()
        # A task of its own: the caller that noticed the breakage reports FaceUnavailable at once,
        # and its cancellation (the terminal hanging up) cannot abort the rebuild halfway.
        self._rebuilding = asyncio.get_running_loop().create_task(self._rebuild(broken))

    def _retry_rebuild(self) -> None:
        """A rebuild that failed (models could not load, a worker died during warm-up) is tried
        again by a later job, at most every REBUILD_RETRY_SECONDS."""
        if self._closed or not self._started or self._executor is not None:
            return
        if self._rebuilding is not None and not self._rebuilding.done():
            return
        if time.monotonic() - self._last_rebuild < self.REBUILD_RETRY_SECONDS:
            return
        self._start_rebuild(None)

    async def _rebuild(self, broken: concurrent.futures.ProcessPoolExecutor | None) -> None:
        """Replace a broken process pool (a worker killed by the OOM killer or a crash in dlib)."""
        try:
            if broken is not None:
                # The executor has already failed every job it held and terminated the other
                # workers; this reaps them (killing any that ignored the terminate).
                await asyncio.to_thread(_stop_executor, broken, 1.0)
            executor, pids = await self._spawn()
        except Exception:
            log.exception("face worker pool rebuild failed; retrying on a later check")
            return
        if self._closed:
            await asyncio.to_thread(_stop_executor, executor, 0.0)
            return
        self._executor = executor
        log.warning("face worker pool restarted: workers %s", pids)

    async def wait_ready(self) -> bool:
        """Wait for a rebuild in progress; True when the pool can take jobs."""
        rebuilding = self._rebuilding
        if rebuilding is not None:
            await asyncio.wait([rebuilding])
        return self._executor is not None

    def kill(self) -> None:
        """Kill every worker now (a forced exit); the pool is unusable afterwards."""
        self._closed = True
        executor, self._executor = self._executor, None
        processes = getattr(executor, "_processes", None) or {}
        for pid in list(processes):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def close(self) -> None:
        """Stop the workers: each finishes the job it holds, for at most `stop_timeout` seconds,
        then any still running is killed. No rebuild happens afterwards."""
        self._closed = True
        rebuilding, self._rebuilding = self._rebuilding, None
        if rebuilding is not None and not rebuilding.done():
            rebuilding.cancel()
            await asyncio.wait([rebuilding])
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(_stop_executor, executor, self.stop_timeout)

"""The face pipeline in worker processes.

dlib holds a core per call, so face work runs in a pool of spawned processes (each loads the
models once, before the server listens). Admission is counted in expected work, not in jobs: a
liveness burst costs two to three times a single desk frame, so "four jobs in flight" can mean
anything from 200 to 600 ms of queued work. The pool keeps a moving average of the worker time of
each kind of job and admits a new one only while the work in flight, the new job's included, stays
within `workers + queue_limit` average jobs; beyond that a job is refused at once (`Overloaded`)
rather than queued, so an accepted check's latency stays bounded and the caller gets
RESOURCE_EXHAUSTED quickly. Until a kind has been measured, each job counts as one average job.

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
import ctypes
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from bhytgate.face import FaceConfig, FaceEngine, FaceError
from bhytgate.face.errors import ImageError
from bhytgate.face.liveness import Action, Challenge, FrameFingerprint
from bhytgate.face.template import template_from_bytes, template_to_bytes

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


@dataclasses.dataclass(frozen=True, slots=True)
class LivenessSpec:
    nonce: bytes
    actions: tuple[str, ...]
    issued_at_ms: int
    expires_at_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class FaceJob:
    """Everything a worker needs; plain data so it pickles cheaply."""

    frames: tuple[tuple[bytes, int], ...]
    now_ms: int
    chip_image: bytes | None = None  # the DG2 face image (authenticated by the caller)
    template: bytes | None = None  # an enrolled template, decrypted by the caller
    liveness: LivenessSpec | None = None  # None: single-frame capture (staffed desk)
    enrol: bool = False  # build a template from the frames instead of matching


@dataclasses.dataclass(frozen=True, slots=True)
class FaceOutcome:
    capture_failure: str | None = None  # face reason code for the live capture
    capture_detail: str | None = None
    reference_failure: str | None = None  # the chip photo or template is unusable
    chip_distance: float | None = None
    template_distance: float | None = None
    threshold: float | None = None
    liveness_ok: bool | None = None
    liveness_failure: str | None = None
    fingerprints: tuple[tuple[bytes, bytes], ...] = ()  # (sha256, phash) per frame
    template: bytes | None = None  # when enrolling
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


class _CollectingStore:
    """Replay detection needs every worker's frames: the main process checks and remembers them."""

    def __init__(self) -> None:
        self.fingerprints: list[FrameFingerprint] = []

    def seen(self, fingerprint: FrameFingerprint, max_hamming: int) -> bool:
        return False

    def remember(self, fingerprints: Sequence[FrameFingerprint]) -> None:
        self.fingerprints.extend(fingerprints)


_ENGINE: FaceEngine | None = None
_BARRIER: Any = None
JobFn = Callable[[FaceEngine, "FaceJob"], "FaceOutcome"]
_JOB_FN: JobFn


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 1.0


def _watch_parent(parent_pid: int, interval: float) -> None:
    """The fallback for when the death signal is not available (not Linux, prctl refused): a
    worker whose parent is gone is re-parented (to init or a subreaper) and exits at once."""
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:
            os._exit(0)


def _die_with_parent(parent_pid: int, interval: float = PARENT_POLL_SECONDS) -> None:
    """Make this worker exit when the gateway process dies, however it dies (kill -9 included).

    PR_SET_PDEATHSIG is delivered when the *thread* that spawned the worker exits: the pool spawns
    its workers from the event loop's thread (`submit` runs there), which lives as long as the pool.
    SIGKILL, not SIGTERM, because a worker inside a dlib call would not run a handler anyway and
    holds nothing that needs flushing."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError):
            log.warning("prctl not available; relying on the parent watchdog")
    # The parent may have died before the prctl took effect: then nothing would ever signal us.
    if os.getppid() != parent_pid:
        os._exit(0)
    threading.Thread(
        target=_watch_parent, args=(parent_pid, interval), name="parent-watchdog", daemon=True
    ).start()


def _init_worker(
    config: FaceConfig, barrier: Any, job_fn: Any = None, nice: int = 0, parent_pid: int | None = None
) -> None:
    global _ENGINE, _BARRIER, _JOB_FN
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group: the gateway's main process coordinates the shutdown
    # (finishing or refusing in-flight checks), so a worker must not abort its job on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice > 0:
        # Face work is long and CPU-bound; the main process's is short (TLS, protobuf, chip checks,
        # database). At equal priority a busy worker delays the main process's next slice; niced,
        # the workers yield to it at once and only lose what the main process actually uses.
        os.nice(nice)
    # One BLAS thread per worker: the workers already fill the cores (two threads measured slower).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _ENGINE = FaceEngine(config)
    _BARRIER = barrier
    if job_fn is not None:
        _JOB_FN = job_fn


def _ping() -> int:
    """Warm-up: returns only when every worker holds a ping, so each process has loaded its models."""
    assert _ENGINE is not None
    _BARRIER.wait(timeout=300)
    return os.getpid()


def run_face_job(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    """The face side of one verification: capture gate, liveness, and the comparisons. Pure but for
    the engine's chip-embedding cache."""
    timings: dict[str, float] = {}
    threshold = engine.config.match_threshold
    chip_embedding = None
    if job.chip_image is not None:
        start = time.perf_counter()
        try:
            chip_embedding = engine.chip_embedding(job.chip_image)
        except FaceError as exc:
            return FaceOutcome(
                reference_failure=exc.reason, capture_detail="chip photo unusable", timings=timings
            )
        timings["chip_photo"] = (time.perf_counter() - start) * 1000
    template_embedding = None
    if job.template is not None:
        try:
            template_embedding = template_from_bytes(job.template, expected_model=engine.model_id).embedding
        except FaceError as exc:
            if chip_embedding is None:  # the template is the only reference (QR path)
                return FaceOutcome(reference_failure=exc.reason, timings=timings)
            # A template from an older model is stale, not a reason to refuse the chip path:
            # the check goes on against the chip photo and the holder re-enrols later.
    if job.enrol:
        start = time.perf_counter()
        try:
            template = engine.enrol([image for image, _ in job.frames])
        except FaceError as exc:
            return FaceOutcome(capture_failure=exc.reason, capture_detail=str(exc), timings=timings)
        timings["enrol"] = (time.perf_counter() - start) * 1000
        distance = None
        if chip_embedding is not None or template_embedding is not None:
            reference = chip_embedding if chip_embedding is not None else template_embedding
            assert reference is not None
            distance = engine.match(template.embedding, reference).distance
        return FaceOutcome(
            chip_distance=distance, threshold=threshold, template=template_to_bytes(template), timings=timings
        )
    if job.liveness is not None:
        spec = job.liveness
        challenge = Challenge(
            nonce=spec.nonce,
            actions=tuple(Action(a) for a in spec.actions),
            issued_at_ms=spec.issued_at_ms,
            expires_at_ms=spec.expires_at_ms,
        )
        store = _CollectingStore()
        start = time.perf_counter()
        try:
            evidence = engine.verify_liveness(
                challenge, list(job.frames), now_ms=job.now_ms, store=store, card_embedding=chip_embedding
            )
        except FaceError as exc:
            timings["liveness"] = (time.perf_counter() - start) * 1000
            frame_reason = getattr(exc, "frame_reason", None)
            # A frame that does not decode (truncated, corrupt) is a capture failure, as for a
            # single desk frame: REJECTED, POOR_FACE_QUALITY, the detail naming the image error.
            undecodable = isinstance(exc.__cause__, ImageError)
            if undecodable or frame_reason in (
                "no_face",
                "multiple_faces",
                "face_too_small",
                "face_cut_off",
                "too_blurred",
            ):
                return FaceOutcome(capture_failure=frame_reason, capture_detail=str(exc), timings=timings)
            return FaceOutcome(
                liveness_ok=False, liveness_failure=exc.reason, capture_detail=str(exc), timings=timings
            )
        timings["liveness"] = (time.perf_counter() - start) * 1000
        for key, value in evidence.timings_ms.items():
            timings[key.removesuffix("_ms")] = value
        probe = evidence.live_embedding
        fingerprints = tuple((f.sha256, f.phash) for f in store.fingerprints)
        liveness_ok: bool | None = True
    else:
        start = time.perf_counter()
        try:
            analysis = engine.analyze(job.frames[0][0], fingerprint=True)
        except FaceError as exc:
            return FaceOutcome(capture_failure=exc.reason, capture_detail=str(exc), timings=timings)
        t = analysis.timings
        timings.update(decode=t.decode_ms, detect=t.detect_ms, landmarks=t.landmarks_ms, embed=t.embed_ms)
        probe = analysis.embedding
        assert analysis.fingerprint is not None
        fingerprints = ((analysis.fingerprint.sha256, analysis.fingerprint.phash),)
        liveness_ok = None
    chip_distance = engine.match(probe, chip_embedding).distance if chip_embedding is not None else None
    template_distance = (
        engine.match(probe, template_embedding).distance if template_embedding is not None else None
    )
    return FaceOutcome(
        chip_distance=chip_distance,
        template_distance=template_distance,
        threshold=threshold,
        liveness_ok=liveness_ok,
        fingerprints=fingerprints,
        timings=timings,
    )


_JOB_FN = run_face_job


def _run_with(job: FaceJob) -> tuple[FaceOutcome, float]:
    """The job's outcome and the worker time it took (ms), which admission learns from."""
    assert _ENGINE is not None, "worker not initialised"
    start = time.perf_counter()
    outcome = _JOB_FN(_ENGINE, job)
    return outcome, (time.perf_counter() - start) * 1000.0


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


class _CostModel:
    """Moving average of worker time per kind of job (ms); an unknown kind costs the overall mean."""

    ALPHA = 0.1
    MIN_UNITS = 0.25  # however cheap a kind looks, at most 4 x (workers + queue_limit) jobs fit

    def __init__(self) -> None:
        self._by_kind: dict[str, float] = {}
        self._mean: float | None = None

    def learn(self, kind: str, millis: float) -> None:
        if not millis > 0:
            return
        old = self._by_kind.get(kind)
        self._by_kind[kind] = millis if old is None else old + self.ALPHA * (millis - old)
        self._mean = millis if self._mean is None else self._mean + self.ALPHA * (millis - self._mean)

    def estimate_ms(self, kind: str) -> float | None:
        """The kind's learned worker time, if any job of it has completed."""
        return self._by_kind.get(kind)

    def units(self, kind: str) -> float:
        """The kind's cost in average jobs (1.0 while nothing is known)."""
        if self._mean is None:
            return 1.0
        return max(self.MIN_UNITS, self._by_kind.get(kind, self._mean) / self._mean)


def _stop_executor(executor: concurrent.futures.ProcessPoolExecutor, timeout: float) -> list[int]:
    """Stop a process pool within `timeout` seconds (plus a second or two for the kill).

    Each worker finishes the job it holds, then exits; queued jobs are cancelled. A worker still
    running after `timeout` (a job stuck in dlib) is killed. Exits are watched through the process
    sentinels, never by waiting on the pids, which the executor's own thread reaps. Blocking: run it
    in a thread. Returns the pids that had to be killed."""
    processes: dict[int, Any] = dict(getattr(executor, "_processes", None) or {})
    manager: threading.Thread | None = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    alive = {process.sentinel: process for process in processes.values()}
    deadline = time.monotonic() + max(0.0, timeout)
    while alive:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for sentinel in multiprocessing.connection.wait(list(alive), remaining):
            alive.pop(sentinel)
    killed = []
    if alive:
        log.warning("%d face worker(s) still busy after %.1f s: killing them", len(alive), timeout)
        for process in alive.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            killed.append(process.pid)
        multiprocessing.connection.wait(list(alive), 2.0)
    if manager is not None:
        manager.join(2.0)  # it joins the processes, now gone, and ends
    return killed


class FacePool:
    """Bounded admission in front of a spawn-context process pool."""

    STOP_TIMEOUT = 5.0  # seconds `close` lets the workers finish their jobs before killing them
    REBUILD_RETRY_SECONDS = 5.0  # after a failed rebuild, the next job tries again this much later

    def __init__(
        self,
        config: FaceConfig,
        *,
        workers: int,
        queue_limit: int,
        job_fn: JobFn | None = None,
        nice: int = 0,
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
        self._work = 0.0  # admitted work in average-job units
        self._orphan_work = 0.0  # work of abandoned jobs that still occupy a worker
        self.costs = _CostModel()

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
    def work_in_flight(self) -> float:
        """Admitted face work, in average jobs (abandoned jobs still running included)."""
        return self._work + self._orphan_work

    @contextlib.asynccontextmanager
    async def slot(self, kind: str = "single") -> AsyncIterator[None]:
        """Admission: reserve the expected work of one check of this `kind` (see `job_kind`), or
        refuse at once when the work in flight would exceed `workers + queue_limit` average jobs.

        Taken before the check consumes anything (its challenge), so a refused caller can retry.
        A job always fits when nothing is in flight, however heavy it is."""
        units = self.costs.units(kind)
        limit = self.workers + self.queue_limit
        if self.inflight > 0 and self.work_in_flight + units > limit + 1e-9:
            raise Overloaded(
                f"{self.work_in_flight:.1f} average checks of face work in flight; a {kind} check"
                f" adds {units:.1f} (limit {limit})"
            )
        self._inflight += 1
        self._work += units
        try:
            yield
        finally:
            self._inflight -= 1
            self._work = max(0.0, self._work - units)

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
        try:
            future = loop.run_in_executor(executor, _run_with, job)
        except RuntimeError as exc:  # BrokenProcessPool, or shut down meanwhile
            self._broken(executor)
            raise FaceUnavailable("face workers restarting") from exc

        def _learn(done: asyncio.Future[tuple[FaceOutcome, float]]) -> None:
            if not done.cancelled() and done.exception() is None:
                outcome, millis = done.result()
                if _complete(outcome):
                    self.costs.learn(kind, millis)

        future.add_done_callback(_learn)
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
            units = self.costs.units(kind)
            self._orphans += 1
            self._orphan_work += units

            def _done(_: asyncio.Future[tuple[FaceOutcome, float]]) -> None:
                self._orphans -= 1
                self._orphan_work = max(0.0, self._orphan_work - units)

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

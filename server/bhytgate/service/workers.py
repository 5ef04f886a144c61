"""The face pipeline in worker processes.

dlib holds a core per call, so face work runs in a pool of spawned processes (each loads the
models once, before the server listens). The pool admits at most `workers + queue_limit` jobs;
beyond that a job is refused at once (`Overloaded`) rather than queued without bound, so latency
stays bounded and the caller gets RESOURCE_EXHAUSTED quickly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from bhytgate.face import FaceConfig, FaceEngine, FaceError
from bhytgate.face.liveness import Action, Challenge, FrameFingerprint
from bhytgate.face.template import template_from_bytes, template_to_bytes

log = logging.getLogger("bhytgate.workers")


class Overloaded(Exception):
    """Every worker is busy and the bounded queue is full."""


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


def _init_worker(config: FaceConfig, barrier: Any, job_fn: Any = None) -> None:
    global _ENGINE, _BARRIER, _JOB_FN
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
            if frame_reason in ("no_face", "multiple_faces", "face_too_small", "face_cut_off", "too_blurred"):
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


def _run_with(job: FaceJob) -> FaceOutcome:
    assert _ENGINE is not None, "worker not initialised"
    return _JOB_FN(_ENGINE, job)


class FacePool:
    """Bounded admission in front of a spawn-context process pool."""

    def __init__(
        self, config: FaceConfig, *, workers: int, queue_limit: int, job_fn: JobFn | None = None
    ) -> None:
        """`job_fn` replaces the face pipeline (a module-level function: it is pickled to the
        workers); the benchmarks use it to run a naive baseline behind the same gateway."""
        self.job_fn = job_fn
        self.config = config
        self.workers = max(1, workers)
        self.queue_limit = max(0, queue_limit)
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._inflight = 0
        self._orphans = 0  # jobs whose caller gave up (deadline) but that still occupy a worker

    @property
    def inflight(self) -> int:
        return self._inflight + self._orphans

    @property
    def queue_depth(self) -> int:
        return max(0, self.inflight - self.workers)

    async def start(self) -> list[int]:
        """Spawn every worker and load its models; returns the worker pids."""
        self._executor = None
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(self.workers)
        self._executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.config, barrier, self.job_fn),
        )
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(
            *(loop.run_in_executor(self._executor, _ping) for _ in range(self.workers))
        )
        return sorted(set(pids))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Admission: reserve a place for one check, or refuse at once when all are taken.

        Taken before the check consumes anything (its challenge), so a refused caller can retry."""
        if self.inflight >= self.workers + self.queue_limit:
            raise Overloaded(f"{self.inflight} checks in flight (limit {self.workers + self.queue_limit})")
        self._inflight += 1
        try:
            yield
        finally:
            self._inflight -= 1

    async def run(self, job: FaceJob, *, timeout: float | None = None) -> FaceOutcome:
        """Run a job in a worker; the caller holds a `slot()`."""
        if self._executor is None:
            raise FaceUnavailable("face workers not running")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, _run_with, job)
        except concurrent.futures.BrokenExecutor as exc:
            await self._rebuild()
            raise FaceUnavailable("face workers restarting") from exc
        try:
            # Shielded: a caller whose deadline passes stops waiting, but the job keeps its worker
            # until it ends, and admission keeps counting it (an orphan) until then.
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self._orphans += 1

            def _done(_: asyncio.Future[FaceOutcome]) -> None:
                self._orphans -= 1

            future.add_done_callback(_done)
            raise
        except concurrent.futures.BrokenExecutor as exc:
            await self._rebuild()
            raise FaceUnavailable("a face worker died; workers restarting") from exc

    async def _rebuild(self) -> None:
        """Replace a broken process pool (a worker killed by the OOM killer or a crash in dlib)."""
        broken, self._executor = self._executor, None
        if broken is None:
            return
        log.error("face worker pool broken; restarting %d workers", self.workers)
        broken.shutdown(wait=False, cancel_futures=True)
        await self.start()

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)

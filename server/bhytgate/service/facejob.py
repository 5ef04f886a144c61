"""The worker side of face work: the job and outcome passed to a worker process, the worker's set-up
(models loaded, lowered priority, exit with the parent), and the face pipeline a job runs."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bhytgate.face import FaceConfig, FaceEngine, FaceError
from bhytgate.face.errors import ImageError
from bhytgate.face.liveness import Action, Challenge, FrameFingerprint
from bhytgate.face.template import template_from_bytes, template_to_bytes

log = logging.getLogger("bhytgate.workers")


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
    chip_embedding = chip_second = None
    if job.chip_image is not None:
        start = time.perf_counter()
        try:
            chip = engine.chip_reference(job.chip_image)
            chip_embedding, chip_second = chip.embedding, chip.second
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
                "too_dark",
            ):
                return FaceOutcome(capture_failure=frame_reason, capture_detail=str(exc), timings=timings)
            return FaceOutcome(
                liveness_ok=False, liveness_failure=exc.reason, capture_detail=str(exc), timings=timings
            )
        timings["liveness"] = (time.perf_counter() - start) * 1000
        for key, value in evidence.timings_ms.items():
            timings[key.removesuffix("_ms")] = value
        fingerprints = tuple((f.sha256, f.phash) for f in store.fingerprints)
        # The card match fuses every frame the verifier embedded (best frontal + turn peaks).
        return FaceOutcome(
            chip_distance=(
                engine.match_burst(evidence, chip_embedding, chip_second).distance
                if chip_embedding is not None
                else None
            ),
            template_distance=(
                engine.match_burst(evidence, template_embedding).distance
                if template_embedding is not None
                else None
            ),
            threshold=threshold,
            liveness_ok=True,
            fingerprints=fingerprints,
            timings=timings,
        )
    # A single desk frame.
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
    chip_distance = (
        engine.match(
            probe, chip_embedding, second_probe=analysis.second_embedding, second_reference=chip_second
        ).distance
        if chip_embedding is not None
        else None
    )
    template_distance = (
        engine.match(probe, template_embedding).distance if template_embedding is not None else None
    )
    return FaceOutcome(
        chip_distance=chip_distance,
        template_distance=template_distance,
        threshold=threshold,
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

"""The compute floor: the same checks through the same `Gateway`, in-process, one at a time, no gRPC.

The face pool is replaced by one that runs the job inline (no worker process, no pickling, no
queue), so the median of these checks is what one check costs when nothing else runs: the floor
against which the gateway's latency under load and its capacity (`workers / floor`) are judged.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

from bhytgate.face import FaceConfig, FaceEngine
from bhytgate.policy.model import TerminalKind
from bhytgate.service.assembly import build_gateway
from bhytgate.service.cluster import open_store_with_keys
from bhytgate.service.config import GatewayConfig
from bhytgate.service.gateway import Caller, Operator, VerifyInput
from bhytgate.service.state import PostgresDocumentLock
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.workers import FaceJob, FaceOutcome, FacePool, JobFn, run_face_job
from bhytgate.storage import is_postgres

from .chips import FastChip
from .workload import BenchHome, Check, burst_stamps

OPERATOR = Operator("Lê Thu Hà", "001185000123")
FACILITY = "01001"
_KINDS = {"desk": TerminalKind.DESK, "kiosk": TerminalKind.KIOSK, "phone": TerminalKind.PHONE}


def one_blas_thread() -> int | None:
    """Run the floor as a face worker runs: with one BLAS thread (`_init_worker` sets it, since the
    workers already fill the cores). Left to OpenBLAS the in-process floor depended on its thread
    scheduling: the median kiosk check measured 84 ms with two threads asked for, 112-126 ms with
    the default (also two), 94 ms with one. Only the last is what each of `workers` processes
    can do at once, which `workers / floor` assumes. None when dlib has no OpenBLAS (dlib-bin).
    """
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # for the processes the bench starts
    import dlib  # noqa: F401  (loads the OpenBLAS it links, if any)

    try:
        # Only an OpenBLAS already in this process, i.e. the one dlib linked: never load one.
        lib = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD)
        lib.openblas_set_num_threads(1)
        return int(lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        return None


class InlinePool(FacePool):
    """A face pool of one, running each job in the calling thread: the compute floor's pool."""

    def __init__(self, config: FaceConfig, *, job_fn: JobFn | None = None) -> None:
        super().__init__(config, workers=1, queue_limit=0, job_fn=job_fn)
        self.engine = FaceEngine(config)

    async def start(self) -> list[int]:
        return [os.getpid()]

    async def run(self, job: FaceJob, *, timeout: float | None = None) -> FaceOutcome:
        return (self.job_fn or run_face_job)(self.engine, job)

    async def close(self) -> None:
        return None


@dataclasses.dataclass
class FloorSample:
    kind: str
    millis: float
    outcome: str
    stages: list[tuple[str, float]]


def _caller(check: Check) -> Caller:
    role = "counter" if check.terminal.startswith("counter") else "hospital-checkin"
    return Caller(check.terminal, FACILITY, role, _KINDS[check.terminal_kind])


async def _run(
    bench: BenchHome,
    checks: Sequence[Check],
    warmup: Sequence[Check],
    job_fn: JobFn | None,
    config: GatewayConfig | None = None,
) -> list[FloorSample]:
    config = config or bench.config
    store, keys = open_store_with_keys(config)
    trust = TrustAnchors(store, config.trust_dir)
    pool = InlinePool(config.face, job_fn=job_fn)
    doc_lock = None
    if is_postgres(config.db_url):
        # As a replica runs: the document lock is PostgreSQL's advisory lock.
        doc_lock = PostgresDocumentLock(config.db_url, config.document_lock_wait_s)
    gateway = build_gateway(config, store, trust, pool, keys, doc_lock)
    chips = {name: FastChip(card.path) for name, card in bench.cards.items()}
    last: tuple[Caller, VerifyInput] | None = None
    samples: list[FloorSample] = []

    async def one(check: Check) -> FloorSample | None:
        nonlocal last
        start = time.perf_counter()
        if check.kind == "replay":
            if last is None:
                return None
            result = await gateway.verify(*last)
        else:
            caller = _caller(check)
            begin = await gateway.begin(caller)
            begun = time.time()
            signatures = chips[check.card].answer(begin.aa_challenge)
            desk = check.terminal_kind == "desk"
            roles = ["single"] if desk else ["base", *begin.actions, "end"]
            stamps, wait = burst_stamps(len(roles), begun)
            frames = list(zip((check.frames[r] for r in roles), stamps, strict=True))
            if wait > 0:
                await asyncio.sleep(wait)
            inp = VerifyInput(
                challenge_id=begin.challenge_id,
                frames=frames,
                chip_files=bench.cards[check.card].files,
                aa_signatures=signatures,
                operator=OPERATOR if desk else None,
            )
            result = await gateway.verify(caller, inp)
            if check.kind.startswith("genuine") and result.outcome.value == "ACCEPTED":
                last = (caller, inp)
        millis = (time.perf_counter() - start) * 1000
        outcome = result.outcome.value + (f":{result.reasons[0].code}" if result.reasons else "")
        return FloorSample(check.kind, millis, outcome, list(result.timings))

    try:
        for check in warmup:
            await one(check)
        for check in checks:
            sample = await one(check)
            if sample is not None:
                samples.append(sample)
    finally:
        if doc_lock is not None:
            await doc_lock.close()
        store.close()
    return samples


async def measure_floor(
    bench: BenchHome,
    checks: Sequence[Check],
    *,
    warmup: Sequence[Check] = (),
    job_fn: JobFn | None = None,
    config: GatewayConfig | None = None,
) -> list[FloorSample]:
    """Run `warmup` (uncounted: fills the chip-photo cache as a warm server has it), then `checks`.

    `config`: another configuration of the same home (e.g. its PostgreSQL cluster database)."""
    return await _run(bench, checks, warmup, job_fn, config)


def floor_summary(samples: Sequence[FloorSample]) -> dict[str, Any]:
    from .generator import summarize

    times = [s.millis for s in samples]
    by_kind: dict[str, Any] = {}
    for kind in sorted({s.kind for s in samples}):
        ks = [s for s in samples if s.kind == kind]
        outcomes: dict[str, int] = {}
        for s in ks:
            outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
        by_kind[kind] = {**summarize([s.millis for s in ks]), "outcomes": outcomes}
    stages: dict[str, list[float]] = {}
    for s in samples:
        for stage, millis in s.stages:
            stages.setdefault(stage, []).append(millis)
    return {
        **summarize(times),
        "median_ms": statistics.median(times) if times else 0.0,
        "by_kind": by_kind,
        "stages": {k: summarize(v) for k, v in sorted(stages.items())},
    }

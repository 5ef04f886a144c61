"""The open-loop load generator on grpc.aio, and what it records.

Arrivals are Poisson at the stated rate; each check is started at its scheduled (intended) time
whether or not earlier ones have returned, so latency measured from the intended time is free of
coordinated omission. The generator's own lag (actual start - intended start) is kept apart: when it
grows, the generator, not the gateway, is the bottleneck, and the step says so.

A check is BeginVerification then Verify, as a terminal does it: the chip signs the AA challenge (in
a separate "chip" process, as a real chip is a separate device), the frames are ordered to perform the
challenge's head turns and stamped, then Verify goes with a deadline.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import json
import math
import os
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from hdrh.histogram import HdrHistogram

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate_clients.sdk.home import GatewayHome

from .chips import FastChip
from .workload import ALL_TERMINALS, Card, Check, burst_stamps

TERMINAL_KINDS = {
    "desk": pb.TERMINAL_KIND_DESK,
    "kiosk": pb.TERMINAL_KIND_KIOSK,
    "phone": pb.TERMINAL_KIND_PHONE,
}
ACTIONS = {pb.LIVENESS_ACTION_TURN_LEFT: "turn_left", pb.LIVENESS_ACTION_TURN_RIGHT: "turn_right"}
OPERATOR = pb.Operator(full_name="Lê Thu Hà", cccd_number="001185000123")
CHIP_FIELDS = {"EF.SOD": "ef_sod", "DG1": "dg1", "DG2": "dg2", "DG13": "dg13", "DG14": "dg14", "DG15": "dg15"}
# Stages the gateway reports that are database work (SQLite in a thread).
DB_STAGES = ("challenge", "fraud_signals", "replay", "entitlement", "record")
HIST_MAX_US = 120_000_000


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIST_MAX_US, 3)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (Linux /proc), None where unavailable."""
    if pid == os.getpid():
        return time.process_time()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def system_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / tick, total / tick


# --- the chip process --------------------------------------------------------------------------

_CHIPS: dict[str, FastChip] = {}


def _init_chips(cards: dict[str, str]) -> None:
    for name, path in cards.items():
        _CHIPS[name] = FastChip(Path(path))


def _answer(card: str, challenge: bytes) -> list[bytes]:
    return _CHIPS[card].answer(challenge)


class ChipBank:
    """Every card's chip, in one helper process (or inline, for tiny runs)."""

    def __init__(self, cards: dict[str, Card], *, process: bool = True) -> None:
        paths = {name: str(card.path) for name, card in cards.items()}
        self.executor: concurrent.futures.ProcessPoolExecutor | None = None
        if process:
            import multiprocessing

            self.executor = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_chips, initargs=(paths,)
            )
            self.pid = self.executor.submit(os.getpid).result(120)
        else:
            _init_chips(paths)
            self.pid = os.getpid()

    async def answer(self, card: str, challenge: bytes) -> list[bytes]:
        if self.executor is None:
            return _answer(card, challenge)
        return await asyncio.get_running_loop().run_in_executor(self.executor, _answer, card, challenge)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


# --- recording ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Recorder:
    """Everything one step measures on the client side."""

    latency: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # OK calls, from intended
    service: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # OK calls, from actual start
    shed_latency: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # RESOURCE_EXHAUSTED
    lag: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # generator: actual - intended
    terminal: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # Begin reply -> Verify sent
    begin: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # BeginVerification round trip
    verify: HdrHistogram = dataclasses.field(default_factory=new_histogram)  # Verify round trip (OK calls)
    statuses: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    outcomes: dict[str, collections.Counter[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    # Genuine holders the gateway did not accept, by every reason it gave (code: detail): a genuine
    # check refused under load is a bug or a threshold, and the report must say which.
    unexpected: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    kinds_sent: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    stages: dict[str, list[float]] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    sent: int = 0
    no_material: int = 0
    ok_end_times: list[float] = dataclasses.field(default_factory=list)

    def record_us(self, hist: HdrHistogram, seconds: float) -> None:
        hist.record_value(min(HIST_MAX_US, max(1, round(seconds * 1e6))))

    def record_stages(self, timings: Sequence[tuple[str, float]]) -> None:
        values: dict[str, float] = {}
        for stage, millis in timings:
            values[stage] = values.get(stage, 0.0) + millis
        for stage, millis in values.items():
            self.stages[stage].append(millis)
        self.stages["database"].append(sum(values.get(s, 0.0) for s in DB_STAGES))
        self.stages["server_total"].append(sum(v for k, v in values.items() if "." not in k))
        if "face" in values:
            worker = values.get("face.chip_photo", 0.0) + (
                values["face.liveness"]
                if "face.liveness" in values
                else sum(values.get(f"face.{s}", 0.0) for s in ("decode", "detect", "landmarks", "embed"))
            )
            self.stages["face.worker"].append(worker)
            self.stages["face.wait"].append(max(0.0, values["face"] - worker))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def unexpected_key(kind: str, response: pb.VerifyResponse) -> str:
    decision = pb.Decision.Name(response.decision).removeprefix("DECISION_")
    # Numbers (distances, sizes) stripped from the details: one line per kind of failure, not per call.
    reasons = "; ".join(
        f"{pb.ReasonCode.Name(r.code).removeprefix('REASON_CODE_')}: {_NUMBER.sub('#', r.detail)}"
        for r in response.reasons
    )
    return f"{kind} {decision} [{reasons}]"


def hist_ms(hist: HdrHistogram, percentile: float) -> float:
    return float(hist.get_value_at_percentile(percentile)) / 1000.0 if hist.get_total_count() else 0.0


def summarize(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p99": 0.0}
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"count": len(ordered), "mean": sum(ordered) / len(ordered), "p50": q(0.5), "p99": q(0.99)}


# --- the generator -----------------------------------------------------------------------------


def channel_options(address: str) -> tuple[str, list[tuple[str, str | int]]]:
    """The channel target and extra options for `address`.

    One `HOST:PORT`: the address itself, no extra option (what the single-process bench always did).
    A list `HOST:PORT,HOST:PORT,...` (replicas): one `ipv4:` target over all of them with the SDK's
    round robin and client-side health checking, as `GatewayClient.connect` builds it
    (`bhytgate_clients.sdk.targets`), so each call (a Begin and its Verify alike) goes to the next
    replica. No retries: a shed call is counted as shed, as with one process."""
    if "," not in address:
        return address, []
    from bhytgate_clients.sdk.targets import channel_target, service_config

    target = channel_target(address)
    config = service_config(retry_shed=False, load_balancing="round_robin")
    options: list[tuple[str, str | int]] = [
        ("grpc.enable_retries", 0),
        ("grpc.service_config", json.dumps(config)),
        ("grpc.service_config_disable_resolution", 1),
    ]
    if target.authority is not None:
        options += [
            ("grpc.default_authority", target.authority),
            ("grpc.ssl_target_name_override", target.authority),
        ]
    return target.target, options


class Generator:
    def __init__(
        self,
        address: str,
        home: Path,
        cards: dict[str, Card],
        chips: ChipBank,
        *,
        channels_per_terminal: int = 2,
        deadline_s: float = 5.0,
        terminals: Sequence[str] = ALL_TERMINALS,
    ) -> None:
        self.address = address
        self.deadline_s = deadline_s
        self.chips = chips
        self.chip_data = {
            name: pb.ChipData(**{CHIP_FIELDS[k]: v for k, v in card.files.items() if k in CHIP_FIELDS})
            for name, card in cards.items()
        }
        gateway_home = GatewayHome(home)
        self.channels: list[grpc.aio.Channel] = []
        # grpc.aio stubs (the generated types describe the synchronous ones)
        self.stubs: dict[str, list[Any]] = {}
        self._next: collections.Counter[str] = collections.Counter()
        target, list_options = channel_options(address)
        for terminal in terminals:
            ca, cert, key = gateway_home.terminal_credentials(terminal)
            credentials = grpc.ssl_channel_credentials(ca.read_bytes(), key.read_bytes(), cert.read_bytes())
            for index in range(channels_per_terminal):
                options: list[tuple[str, str | int]] = [
                    ("grpc.use_local_subchannel_pool", 1),  # a connection of its own
                    ("grpc.primary_user_agent", f"bhytgate-bench/{terminal}/{index}"),
                    ("grpc.max_send_message_length", 64 * 1024 * 1024),
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                    *list_options,
                ]
                channel = grpc.aio.secure_channel(target, credentials, options=options)
                self.channels.append(channel)
                self.stubs.setdefault(terminal, []).append(pb_grpc.VerificationServiceStub(channel))
        self.replayable: collections.deque[tuple[str, pb.VerifyRequest]] = collections.deque(maxlen=64)
        self.materials: collections.deque[Check] = collections.deque()

    async def connect(self, timeout: float = 30.0) -> None:
        await asyncio.gather(*(asyncio.wait_for(c.channel_ready(), timeout) for c in self.channels))

    async def close(self) -> None:
        await asyncio.gather(*(c.close(None) for c in self.channels))

    def _stub(self, terminal: str) -> Any:
        stubs = self.stubs[terminal]
        index = self._next[terminal] % len(stubs)
        self._next[terminal] += 1
        return stubs[index]

    def add_materials(self, checks: Sequence[Check]) -> None:
        self.materials.extend(checks)

    async def one(self, intended: float, rec: Recorder, *, check: Check | None = None) -> None:
        """One check, intended to start at `intended` (loop time)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        rec.record_us(rec.lag, max(0.0, start - intended))
        if check is None:
            if not self.materials:
                rec.no_material += 1
                return
            check = self.materials.popleft()
        kind = check.kind
        if kind == "replay" and not self.replayable:
            rec.statuses["SKIPPED"] += 1  # nothing captured yet to replay
            return
        rec.sent += 1
        rec.kinds_sent[kind] += 1
        status = "OK"
        response: pb.VerifyResponse | None = None
        try:
            if kind == "replay":
                response = await self._replay(check, rec)
            else:
                response = await self._check(check, rec, start)
        except grpc.aio.AioRpcError as error:
            status = error.code().name
        except Exception as error:  # a generator bug must show in the report, not stop the run
            status = f"CLIENT_{type(error).__name__}"
        end = loop.time()
        if status == "OK" and response is not None:
            rec.record_us(rec.latency, end - intended)
            rec.record_us(rec.service, end - start)
            rec.ok_end_times.append(end)
            decision = pb.Decision.Name(response.decision).removeprefix("DECISION_")
            reason = (
                pb.ReasonCode.Name(response.reasons[0].code).removeprefix("REASON_CODE_")
                if response.reasons
                else ""
            )
            rec.outcomes[kind][f"{decision}:{reason}" if reason else decision] += 1
            if kind.startswith("genuine") and response.decision != pb.DECISION_ACCEPTED:
                rec.unexpected[unexpected_key(kind, response)] += 1
            rec.record_stages([(t.stage, t.millis) for t in response.stage_timings])
        else:
            rec.statuses[status] += 1
            rec.outcomes[kind][status] += 1
            if status == "RESOURCE_EXHAUSTED":
                rec.record_us(rec.shed_latency, end - intended)
                if kind != "replay":
                    # Refused before anything was consumed: reuse it, later (at the back, so that
                    # the next arrivals keep drawing from the mix rather than retrying this one).
                    self.materials.append(check)

    async def _replay(self, check: Check, rec: Recorder) -> pb.VerifyResponse:
        terminal, request = self.replayable[random.randrange(len(self.replayable))]
        response: pb.VerifyResponse = await self._stub(terminal).Verify(request, timeout=self.deadline_s)
        return response

    async def _check(self, check: Check, rec: Recorder, start: float) -> pb.VerifyResponse:
        loop = asyncio.get_running_loop()
        stub = self._stub(check.terminal)
        begin_request = pb.BeginVerificationRequest(
            terminal_kind=TERMINAL_KINDS[check.terminal_kind],
            terminal_id=check.terminal,
            purpose=pb.PURPOSE_CHECK_IN,
        )
        desk = check.terminal_kind == "desk"
        if desk:
            begin_request.operator.CopyFrom(OPERATOR)
        begin: pb.BeginVerificationResponse = await stub.BeginVerification(
            begin_request, timeout=self.deadline_s
        )
        replied = loop.time()
        begun = time.time()
        rec.record_us(rec.begin, replied - start)
        signatures = await self.chips.answer(check.card, begin.aa_challenge)
        if desk:
            roles = ["single"]
        else:
            roles = ["base", *(ACTIONS[a] for a in begin.liveness_actions), "end"]
        # Stamps inside the challenge window and never in the future.
        stamps, wait = burst_stamps(len(roles), begun)
        frames = [
            pb.CaptureFrame(image=check.frames[role], timestamp_ms=ts)
            for role, ts in zip(roles, stamps, strict=True)
        ]
        request = pb.VerifyRequest(
            challenge_id=begin.challenge_id,
            terminal_id=check.terminal,
            chip=self.chip_data[check.card],
            active_auth=pb.ActiveAuthResponse(signatures=signatures),
            frames=frames,
        )
        if desk:
            request.operator.CopyFrom(OPERATOR)
        if wait > 0:
            await asyncio.sleep(wait)
        rec.record_us(rec.terminal, loop.time() - replied)
        sent = loop.time()
        remaining = max(0.001, self.deadline_s - (sent - start))
        response: pb.VerifyResponse = await stub.Verify(request, timeout=remaining)
        rec.record_us(rec.verify, loop.time() - sent)
        if check.kind.startswith("genuine") and response.decision == pb.DECISION_ACCEPTED:
            self.replayable.append((check.terminal, request))
        return response

    # --- load shapes ---------------------------------------------------------------------------

    async def open_loop(self, rate: float, duration: float, rec: Recorder, *, seed: int = 1) -> float:
        """Poisson arrivals at `rate`/s for `duration` s; waits for every call. Returns the window start."""
        loop = asyncio.get_running_loop()
        rng = random.Random(seed)
        t0 = loop.time() + 0.02
        t = t0
        tasks: set[asyncio.Task[None]] = set()
        while True:
            t += rng.expovariate(rate)
            if t - t0 >= duration:
                break
            delay = t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(t, rec))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*list(tasks))
        return t0

    async def closed_loop(self, concurrency: int, duration: float, rec: Recorder) -> float:
        """`concurrency` terminals, each sending its next check as soon as the last one returned."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def terminal() -> None:
            while loop.time() - t0 < duration and self.materials:
                await self.one(loop.time(), rec)

        await asyncio.gather(*(terminal() for _ in range(concurrency)))
        return t0


def rate_in_window(end_times: Sequence[float], start: float, stop: float) -> float:
    if stop <= start:
        return 0.0
    return sum(1 for t in end_times if start <= t < stop) / (stop - start)


def finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def generator_pids(chips: ChipBank) -> list[int]:
    return sorted({os.getpid(), chips.pid})


__all__ = ["ChipBank", "Generator", "Recorder", "cpu_seconds", "hist_ms", "summarize"]

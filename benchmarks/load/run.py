"""One benchmark run: floor, capacity, sweep, baseline; bounded in time; returns the report dict.

Order (nothing else is measured while frames are rendered or a server starts):
1. a fresh home (dev PKI, demo cards, bench policy) and the rendered check mix;
2. the compute floor, in-process, one check at a time (and the baseline's floor);
3. the gateway in its own process; a warm-up; capacity = throughput of a closed-loop probe that keeps
   every worker busy (workers + 2 checks in flight, nothing shed);
4. the open-loop sweep at fractions of that capacity;
5. the same gateway with the naive face pipeline: its capacity and a few open-loop steps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from benchmarks.machine import dlib_build, machine_info

from .generator import (
    ChipBank,
    Generator,
    Recorder,
    cpu_seconds,
    hist_ms,
    rate_in_window,
    summarize,
    system_cpu,
)
from .inproc import floor_summary, measure_floor, one_blas_thread
from .scaling import scaling_probe
from .workload import BENCH_POLICY, BenchHome, Check, Mix, Spec, plan, prepare_home, render

REPO = Path(__file__).resolve().parents[2]
FULL_LEVELS = (0.25, 0.5, 0.7, 0.9, 1.0, 1.25, 1.5)
QUICK_LEVELS = (0.5, 0.7, 1.0, 1.5)


@dataclasses.dataclass
class Options:
    out: Path = REPO / "benchmarks" / "results"
    quick: bool = False
    workers: int = 2
    queue_limit: int = 12  # the gateway's default
    step_s: float | None = None  # seconds per sweep step
    levels: Sequence[float] | None = None
    probe_s: float | None = None
    floor_checks: int | None = None
    baseline_floor_checks: int | None = None
    baseline_levels: Sequence[float] | None = None
    deadline_s: float = 8.0
    channels_per_terminal: int = 2
    budget_s: float | None = None  # hard bound on the whole run
    faces: Path | None = None
    seed: int = 20261123
    mix: Mix = dataclasses.field(default_factory=Mix)
    chip_process: bool = True
    render_processes: int = 2
    smoke: bool = False  # the CI smoke shape: seconds, not minutes

    def resolved(self) -> Options:
        o = dataclasses.replace(self)
        if o.smoke:
            defaults: dict[str, Any] = dict(
                step_s=1.5,
                levels=(0.5, 1.5),
                probe_s=3.0,
                floor_checks=3,
                baseline_floor_checks=1,
                baseline_levels=(0.5,),
                budget_s=90.0,
            )
        elif o.quick:
            defaults = dict(
                step_s=5.0,
                levels=QUICK_LEVELS,
                probe_s=6.0,
                # The mix is bimodal (desk ~60 ms, kiosk ~110-150 ms) with its median near the
                # boundary: a few checks put the median in either mode. 24 keeps quick runs short.
                floor_checks=24,
                baseline_floor_checks=6,
                baseline_levels=(0.5,),
                budget_s=110.0,
            )
        else:
            defaults = dict(
                step_s=40.0,
                levels=FULL_LEVELS,
                probe_s=30.0,
                floor_checks=150,  # ~15 s: the median of a bimodal mix needs many samples
                baseline_floor_checks=30,
                baseline_levels=(0.5, 0.7, 1.5),
                budget_s=1500.0,
            )
        for key, value in defaults.items():
            if getattr(o, key) is None:
                setattr(o, key, value)
        return o


class Progress:
    """What the run tells its caller; the CLI draws it with rich."""

    def phase(self, name: str) -> None:
        pass

    def advance(self, fraction: float) -> None:
        pass


class TimeBudget(Exception):
    pass


# --- the server process ------------------------------------------------------------------------


class GatewayUnderTest(Protocol):
    """What a measurement step needs of the gateway: one process, or a set of replicas."""

    def command(self, name: str) -> dict[str, Any]: ...

    def cpu(self) -> dict[str, float | None]: ...


class ServerProcess:
    def __init__(
        self,
        home: Path,
        workers: int,
        queue_limit: int,
        *,
        baseline: bool,
        log: Path,
        extra_args: Sequence[str] = (),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ) | (extra_env or {})
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        args = [sys.executable, "-m", "benchmarks.load.server", "--home", str(home)]
        args += ["--workers", str(workers), "--queue-limit", str(queue_limit), *extra_args]
        if baseline:
            args.append("--baseline")
        self._log: TextIO = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info = self._read(180.0)
        self.pid = int(self.info["pid"])
        self.worker_pids = [int(p) for p in self.info["worker_pids"]]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway process exited with {self.proc.returncode}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError("gateway process did not answer") from None
                continue
            try:
                data: dict[str, Any] = json.loads(line)
                return data
            except ValueError:
                continue

    def command(self, name: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return self._read(30.0)

    def cpu(self) -> dict[str, float | None]:
        workers = [cpu_seconds(p) for p in self.worker_pids]
        return {
            "server_main": cpu_seconds(self.pid),
            "face_workers": None if any(w is None for w in workers) else sum(w or 0.0 for w in workers),
        }

    def stop(self) -> int | None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


# --- the run -----------------------------------------------------------------------------------


class Run:
    def __init__(self, options: Options, progress: Progress) -> None:
        self.o = options.resolved()
        self.progress = progress
        self.started = time.monotonic()
        self.rng = random.Random(self.o.seed)
        self.notes: list[str] = []
        self.skipped: list[str] = []

    # time
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        assert self.o.budget_s is not None
        return self.o.budget_s - self.elapsed()

    def require(self, seconds: float, what: str) -> None:
        if self.left() < seconds:
            self.skipped.append(what)
            raise TimeBudget(what)

    # materials
    def specs(self, count: int) -> list[Spec]:
        return plan(self.bench, count, self.o.mix, self.rng)

    def render(self, count: int) -> list[Check]:
        specs = self.specs(count)
        if self.render_pool is None or len(specs) < 16:
            return [render(s) for s in specs]
        return list(self.render_pool.map(render, specs, chunksize=8))

    def top_up(self, generator: Generator, count: int) -> None:
        missing = count - len(generator.materials)
        if missing > 0:
            generator.add_materials(self.render(missing))

    # phases
    async def floor(self, job_fn: Any, count: int, label: str) -> dict[str, Any]:
        self.progress.phase(f"{label}: {count} checks in-process, one at a time")
        # Our pipeline caches chip-photo embeddings: warm it as a running server is; the baseline has
        # no cache, so one check absorbs its first-call costs.
        warm_n = 1 if (job_fn is not None or self.o.smoke) else max(4, len(self.bench.cards) // 6)
        warm = self.render(warm_n)
        checks = self.render(count)
        samples = await measure_floor(self.bench, checks, warmup=warm, job_fn=job_fn)
        summary = floor_summary(samples)
        return summary

    async def measure_step(
        self,
        server: GatewayUnderTest,
        generator: Generator,
        chips: ChipBank,
        shape: Callable[[Recorder], Any],
        duration: float,
    ) -> tuple[Recorder, dict[str, Any], float, float]:
        server.command("mark")
        before = (
            server.cpu(),
            cpu_seconds(os.getpid()),
            cpu_seconds(chips.pid),
            time.monotonic(),
            system_cpu(),
        )
        rec = Recorder()
        t0 = await shape(rec)
        after = (
            server.cpu(),
            cpu_seconds(os.getpid()),
            cpu_seconds(chips.pid),
            time.monotonic(),
            system_cpu(),
        )
        stats = server.command("stats")
        checks = max(1, rec.sent)
        wall = max(1e-9, after[3] - before[3])

        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        # server_main and face_workers, and for a cluster the PostgreSQL backends serving it
        cpu = {key: delta(before[0].get(key), value) for key, value in after[0].items()}
        cpu |= {
            "generator": delta(before[1], after[1]) if chips.pid != os.getpid() else None,
            "chip": delta(before[2], after[2]) if chips.pid != os.getpid() else None,
        }
        if chips.pid == os.getpid():
            cpu["generator"] = delta(before[1], after[1])
        stats["cpu_ms_per_check"] = {
            k: (v * 1000 / checks if v is not None else None) for k, v in cpu.items()
        }
        stats["cpu_cores_busy"] = {k: (v / wall if v is not None else None) for k, v in cpu.items()}
        stats["wall_s"] = wall
        sys_before, sys_after = before[4], after[4]
        if sys_before is not None and sys_after is not None:
            busy = (sys_after[0] - sys_before[0]) / wall
            ours = sum(v for v in cpu.values() if v is not None) / wall
            # Everything else on the machine (other agents, builds): the noise this step ran in.
            stats["machine_cores_busy"] = busy
            stats["other_processes_cores_busy"] = max(0.0, busy - ours)
        stats["loadavg_1m"] = os.getloadavg()[0]
        return rec, stats, t0, duration

    def step_report(
        self, rec: Recorder, stats: dict[str, Any], duration: float, offered: float, level: float | None
    ) -> dict[str, Any]:
        ok = rec.latency.get_total_count()
        errors = {k: v for k, v in sorted(rec.statuses.items()) if k not in ("OK", "SKIPPED")}
        lag_p99 = hist_ms(rec.lag, 99.0)
        stages = {k: summarize(v) for k, v in sorted(rec.stages.items())}
        return {
            "level": level,
            "offered_rps": offered,
            "offered_actual_rps": rec.sent / duration,
            "achieved_rps": ok / duration,
            "duration_s": duration,
            "sent": rec.sent,
            "samples": ok,
            "p50_ms": hist_ms(rec.latency, 50.0),
            "p90_ms": hist_ms(rec.latency, 90.0),
            "p95_ms": hist_ms(rec.latency, 95.0),
            "p99_ms": hist_ms(rec.latency, 99.0),
            "p999_ms": hist_ms(rec.latency, 99.9),
            "max_ms": float(rec.latency.get_max_value()) / 1000.0 if ok else 0.0,
            "errors_by_status": errors,
            "shed": rec.statuses.get("RESOURCE_EXHAUSTED", 0),
            "shed_fraction": rec.statuses.get("RESOURCE_EXHAUSTED", 0) / max(1, rec.sent),
            "shed_p50_ms": hist_ms(rec.shed_latency, 50.0),
            "shed_p99_ms": hist_ms(rec.shed_latency, 99.0),
            "shed_max_ms": float(rec.shed_latency.get_max_value()) / 1000.0
            if rec.shed_latency.get_total_count()
            else 0.0,
            "service_p50_ms": hist_ms(rec.service, 50.0),
            "service_p99_ms": hist_ms(rec.service, 99.0),
            "generator_lag_p50_ms": hist_ms(rec.lag, 50.0),
            "generator_lag_p99_ms": lag_p99,
            "generator_lag_max_ms": float(rec.lag.get_max_value()) / 1000.0
            if rec.lag.get_total_count()
            else 0.0,
            "generator_limited": lag_p99 > 25.0 or rec.no_material > 0,
            "terminal_p50_ms": hist_ms(rec.terminal, 50.0),
            "terminal_p99_ms": hist_ms(rec.terminal, 99.0),
            "begin_p50_ms": hist_ms(rec.begin, 50.0),
            "begin_p99_ms": hist_ms(rec.begin, 99.0),
            "verify_rpc_p50_ms": hist_ms(rec.verify, 50.0),
            "verify_rpc_p99_ms": hist_ms(rec.verify, 99.0),
            "no_material": rec.no_material,
            "stages": stages,
            "server": stats,
            "kinds_sent": dict(rec.kinds_sent),
            "outcomes": {k: dict(v) for k, v in sorted(rec.outcomes.items())},
            "unexpected": dict(rec.unexpected),
        }

    async def serve_and_measure(
        self, *, baseline: bool, floor_ms: float, floor_mean_ms: float, levels: Sequence[float]
    ) -> dict[str, Any]:
        o = self.o
        label = "baseline" if baseline else "gateway"
        self.progress.phase(f"{label}: starting server ({o.workers} face workers)")
        server = ServerProcess(
            self.bench.home, o.workers, o.queue_limit, baseline=baseline, log=self.tmp / f"{label}.log"
        )
        result: dict[str, Any] = {"worker_pids": server.worker_pids, "steps": []}
        generator = Generator(
            server.info["address"],
            self.bench.home,
            self.bench.cards,
            self.chips,
            channels_per_terminal=o.channels_per_terminal,
            deadline_s=o.deadline_s,
        )
        try:
            await generator.connect()
            ideal = o.workers / max(1e-3, floor_mean_ms / 1000)
            assert o.probe_s is not None and o.step_s is not None
            # warm-up: every worker caches the chip photos' embeddings, as on a warm server
            self.progress.phase(f"{label}: warm-up")
            warm_n = 1 if o.smoke else max(o.workers * 2, min(24, int(ideal * 3)))
            self.top_up(generator, warm_n)
            concurrency = o.workers + min(2, o.queue_limit)
            warm_rec = Recorder()
            loop = asyncio.get_running_loop()
            t_warm = loop.time()
            warm_budget = 2.0 if o.smoke else 4.0 if o.quick else 10.0

            async def warm_terminal() -> None:
                while generator.materials and loop.time() - t_warm < warm_budget and warm_rec.sent < warm_n:
                    await generator.one(loop.time(), warm_rec)

            await asyncio.gather(*(warm_terminal() for _ in range(concurrency)))
            # capacity: a closed loop that keeps every worker busy and sheds nothing
            self.require(o.probe_s + 5, f"{label} capacity probe")
            self.progress.phase(f"{label}: capacity probe ({concurrency} in flight, {o.probe_s:.0f} s)")
            self.top_up(generator, int(ideal * o.probe_s * 1.5) + 10)

            async def probe(rec: Recorder) -> float:
                return await generator.closed_loop(concurrency, o.probe_s or 1.0, rec)

            rec, stats, t0, _ = await self.measure_step(server, generator, self.chips, probe, o.probe_s)
            warm = min(3.0, o.probe_s / 4)
            capacity = rate_in_window(rec.ok_end_times, t0 + warm, t0 + o.probe_s)
            if capacity <= 0:
                capacity = rec.latency.get_total_count() / o.probe_s
            result["capacity_rps"] = capacity
            result["capacity_probe"] = {
                **self.step_report(rec, stats, o.probe_s, capacity, None),
                "method": f"closed loop, {concurrency} checks in flight, {o.probe_s:.0f} s, "
                f"completions counted after {warm:.1f} s",
                "concurrency": concurrency,
            }
            self.progress.advance(0.1)
            for level in levels:
                rate = max(0.2, capacity * level)
                self.require(o.step_s + min(o.deadline_s, 4.0) + 3, f"{label} step {level:.0%}")
                self.progress.phase(
                    f"{label}: {level:.0%} of capacity = {rate:.2f} checks/s for {o.step_s:.0f} s"
                )
                self.top_up(generator, int(rate * o.step_s * 1.3) + 8)

                async def shape(rec: Recorder, rate: float = rate) -> float:
                    return await generator.open_loop(
                        rate, o.step_s or 1.0, rec, seed=self.rng.getrandbits(32)
                    )

                rec, stats, _, _ = await self.measure_step(server, generator, self.chips, shape, o.step_s)
                result["steps"].append(self.step_report(rec, stats, o.step_s, rate, level))
                self.progress.advance(0.8 / max(1, len(levels)))
                await asyncio.sleep(0.3)
        except TimeBudget:
            self.notes.append(f"{label}: stopped early to stay within the {self.o.budget_s:.0f} s bound")
        finally:
            await generator.close()
            code = server.stop()
            result["exit_code"] = code
            log = (self.tmp / f"{label}.log").read_text(encoding="utf-8", errors="replace")
            result["server_log_tracebacks"] = log.count("Traceback")
        return result

    async def main(self) -> dict[str, Any]:
        o = self.o
        assert o.floor_checks is not None and o.baseline_floor_checks is not None
        assert o.levels is not None and o.baseline_levels is not None
        from bhytgate_clients.devsetup import default_faces_dir

        faces = o.faces or default_faces_dir() or REPO.parent / "shared" / "faces"
        report: dict[str, Any] = {
            "schema": "bhytgate-bench/1",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "mode": "smoke" if o.smoke else "quick" if o.quick else "full",
            "machine": machine_info(),
            "dlib_build": dlib_build(),
            "workers": o.workers,
            "queue_limit": o.queue_limit,
            "deadline_s": o.deadline_s,
            "duration_per_step_s": o.step_s,
            "channels": o.channels_per_terminal * 4,
            "mix": o.mix.as_dict(),
            "policy_overrides": BENCH_POLICY,
            "loadavg_start": os.getloadavg(),
            "floor_blas_threads": one_blas_thread(),
        }
        with tempfile.TemporaryDirectory(prefix="bhytgate-bench-") as tmp:
            self.tmp = Path(tmp)
            self.progress.phase("preparing a fresh home: dev PKI, card lab, entitlements")
            self.bench: BenchHome = prepare_home(
                self.tmp / "home", faces, workers=o.workers, queue_limit=o.queue_limit
            )
            ctx = multiprocessing.get_context("spawn")
            self.render_pool: concurrent.futures.ProcessPoolExecutor | None = (
                concurrent.futures.ProcessPoolExecutor(o.render_processes, mp_context=ctx)
                if o.render_processes > 1
                else None
            )
            self.chips = ChipBank(self.bench.cards, process=o.chip_process)
            try:
                floor = await self.floor(None, o.floor_checks, "compute floor")
                report["floor_ms"] = floor["median_ms"]
                report["floor"] = floor
                self.progress.advance(0.05)
                from benchmarks.baseline import baseline_face_job

                base_floor = await self.floor(baseline_face_job, o.baseline_floor_checks, "baseline floor")
                report["baseline_floor_ms"] = base_floor["median_ms"]
                report["baseline_floor"] = base_floor
                self.progress.advance(0.05)
                report["machine_scaling"] = None
                if not (o.quick or o.smoke):
                    self.progress.phase(f"machine: {o.workers} processes of face work at once vs one")
                    frame = next(f for c in self.render(8) for f in c.frames.values())
                    report["machine_scaling"] = await asyncio.to_thread(scaling_probe, frame, o.workers, 6.0)
                ours = await self.serve_and_measure(
                    baseline=False, floor_ms=floor["median_ms"], floor_mean_ms=floor["mean"], levels=o.levels
                )
                report["capacity_rps"] = ours.get("capacity_rps", 0.0)
                report["capacity_probe"] = ours.get("capacity_probe")
                report["steps"] = ours["steps"]
                report["gateway_process"] = {k: ours.get(k) for k in ("exit_code", "server_log_tracebacks")}
                base = await self.serve_and_measure(
                    baseline=True,
                    floor_ms=base_floor["median_ms"],
                    floor_mean_ms=base_floor["mean"],
                    levels=o.baseline_levels,
                )
                report["baseline_capacity_rps"] = base.get("capacity_rps", 0.0)
                report["baseline"] = {
                    "capacity_probe": base.get("capacity_probe"),
                    "steps": base["steps"],
                    "exit_code": base.get("exit_code"),
                    "server_log_tracebacks": base.get("server_log_tracebacks"),
                }
            finally:
                self.chips.close()
                if self.render_pool is not None:
                    self.render_pool.shutdown(cancel_futures=True)
        report["elapsed_s"] = self.elapsed()
        report["loadavg_end"] = os.getloadavg()
        report["truncated"] = bool(self.skipped)
        report["skipped"] = self.skipped
        report["notes"] = self.notes
        from .report import add_verdicts

        add_verdicts(report)
        return report


def run(options: Options, progress: Progress | None = None) -> dict[str, Any]:
    return asyncio.run(Run(options, progress or Progress()).main())

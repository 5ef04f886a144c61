"""The soak: a real `bhytgate serve` held at a fraction of its capacity for a long time.

    python -m benchmarks.load soak [--minutes 30] [--fraction 0.7] [--rate R] [--out DIR]

1. a fresh home (dev PKI, demo cards, bench policy: `workload.prepare_home`);
2. `bhytgate serve --listen 127.0.0.1:0` in its own process (embedded SQLite), its address read from
   the info file it writes;
3. a warm-up, then capacity = throughput of the harness's closed-loop probe (workers + 2 in flight),
   unless `--rate` is given;
4. Poisson arrivals at `fraction` x capacity for `minutes`, the harness's check mix, rendered in the
   background (a few seconds of checks held at once: 30 minutes of frames would not fit in memory);
   every interval (a minute) the RSS/PSS, open fds and CPU of every process of the server's tree
   (server, face workers, multiprocessing resource tracker: /proc), the machine's load average, and
   the latency and status counts of the checks intended in that interval;
5. SIGTERM: the drain time, the exit status and whether any process of the tree outlived it.

Memory flatness is the finding: `soak_report.verdict` fits RSS over the last 20 minutes per process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.machine import dlib_build, machine_info

from .generator import ChipBank, Generator, Recorder, hist_ms, rate_in_window, system_cpu
from .proctree import db_size_mb, process_sample, read_text, tree, tree_sample
from .workload import BENCH_POLICY, BenchHome, Check, Mix, Spec, plan, prepare_home, render

REPO = Path(__file__).resolve().parents[2]
INFO_NAME = "soak-gateway.json"


@dataclasses.dataclass
class SoakOptions:
    out: Path = REPO / "benchmarks" / "results"
    minutes: float = 30.0
    fraction: float = 0.7
    rate: float | None = None  # checks/s; None: measure capacity first
    interval_s: float = 60.0  # one sample (and one latency window) per interval
    probe_s: float = 30.0
    warmup_s: float = 10.0
    workers: int = 2
    queue_limit: int = 3
    deadline_s: float = 8.0
    channels_per_terminal: int = 2
    buffer_s: float = 20.0  # seconds of rendered checks kept ahead of the load
    render_processes: int = 1
    chip_process: bool = True
    faces: Path | None = None
    seed: int = 20261201
    mix: Mix = dataclasses.field(default_factory=Mix)
    label: str = ""  # appended to the file names


# --- the server ----------------------------------------------------------------------------------


class ServeProcess:
    """`bhytgate serve` on an ephemeral port, as an operator starts it."""

    def __init__(self, home: Path, faces: Path, workers: int, queue_limit: int, log: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.args = [sys.executable, "-m", "bhytgate_clients.cli", "serve", "--home", str(home)]
        self.args += ["--listen", "127.0.0.1:0", "--workers", str(workers), "--queue-limit", str(queue_limit)]
        self.args += ["--faces", str(faces), "--info-name", INFO_NAME]
        self.info_path = home / INFO_NAME
        self._log = log.open("w", encoding="utf-8")
        self.log_path = log
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=env
        )
        self.pid = self.proc.pid
        self.address = self._wait_ready(300.0)

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bhytgate serve exited with {self.proc.returncode}: see {self.log_path}")
            try:
                info = json.loads(self.info_path.read_text(encoding="utf-8"))
                if int(info["pid"]) == self.pid:
                    return str(info["address"])
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise TimeoutError("bhytgate serve did not write its info file")

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        """SIGTERM, then how long the drain took, the exit status and who outlived the server."""
        members = tree(self.pid)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        stopped = time.monotonic() - started
        time.sleep(2.0)  # what the workers get to notice their parent is gone
        survivors = [p for p in members if p != self.pid and read_text(f"/proc/{p}/stat") is not None]
        for pid in survivors:  # ours to clean up: started by the server we started
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if code is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return {
            "signal": "SIGTERM",
            "exit_code": code,
            "stop_s": stopped,
            "survivors_after_2s": len(survivors),
            "server_log_tracebacks": text.count("Traceback"),
        }


# --- rendering in the background -----------------------------------------------------------------


def _render_chunk(specs: Sequence[Spec]) -> list[Check]:
    return [render(s) for s in specs]


class Feeder:
    """Keeps `generator.materials` a few seconds ahead of the load, rendering in a helper process."""

    def __init__(self, bench: BenchHome, mix: Mix, rng: random.Random, processes: int) -> None:
        self.bench, self.mix, self.rng = bench, mix, rng
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        if processes > 0:
            ctx = multiprocessing.get_context("spawn")
            self.pool = concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx)
        self.rendered = 0

    async def render(self, count: int) -> list[Check]:
        specs = plan(self.bench, count, self.mix, self.rng)
        if self.pool is None:
            checks = _render_chunk(specs)
        else:
            checks = await asyncio.get_running_loop().run_in_executor(self.pool, _render_chunk, specs)
        self.rendered += len(checks)
        return checks

    async def fill(self, generator: Generator, count: int) -> None:
        while len(generator.materials) < count:
            generator.add_materials(await self.render(min(16, count - len(generator.materials))))

    async def keep_ahead(self, generator: Generator, target: list[int]) -> None:
        """Until cancelled: top up to `target[0]` checks (a list so the caller can change it)."""
        while True:
            if len(generator.materials) < target[0]:
                generator.add_materials(await self.render(8))
            else:
                await asyncio.sleep(0.1)

    def pid(self) -> list[int]:
        if self.pool is None:
            return []
        return [p.pid for p in getattr(self.pool, "_processes", {}).values() if p.pid is not None]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


# --- one window's figures ------------------------------------------------------------------------


def window_summary(rec: Recorder, duration: float) -> dict[str, Any]:
    ok = rec.latency.get_total_count()
    return {
        "sent": rec.sent,
        "ok": ok,
        "achieved_rps": ok / max(1e-9, duration),
        "p50_ms": hist_ms(rec.latency, 50.0),
        "p90_ms": hist_ms(rec.latency, 90.0),
        "p99_ms": hist_ms(rec.latency, 99.0),
        "max_ms": float(rec.latency.get_max_value()) / 1000.0 if ok else 0.0,
        "statuses": {"OK": ok, **{k: v for k, v in sorted(rec.statuses.items())}},
        "outcomes": {k: dict(v) for k, v in sorted(rec.outcomes.items())},
        "unexpected": dict(rec.unexpected),
        "no_material": rec.no_material,
        "generator_lag_p99_ms": hist_ms(rec.lag, 99.0),
    }


# --- the run -------------------------------------------------------------------------------------


class Soak:
    def __init__(self, options: SoakOptions, say: Any = None) -> None:
        self.o = options
        self.say = say or (lambda message: print(message, file=sys.stderr, flush=True))
        self.rng = random.Random(options.seed)
        self.notes: list[str] = []

    def sample(self, server: ServeProcess, cpu_before: tuple[float, float] | None) -> dict[str, Any]:
        machine = system_cpu()
        busy = None
        if machine is not None and cpu_before is not None and machine[1] > cpu_before[1]:
            cores = os.cpu_count() or 1
            busy = (machine[0] - cpu_before[0]) / ((machine[1] - cpu_before[1]) / cores)
        return {
            "loadavg": list(os.getloadavg()),
            "machine_cores_busy": busy,
            "processes": tree_sample(server.pid),
            "generator_rss_mb": (process_sample(os.getpid()) or {}).get("rss_mb"),
            "db_mb": db_size_mb(self.bench.home),
        }

    async def capacity(self, generator: Generator, feeder: Feeder) -> tuple[float, dict[str, Any]]:
        o = self.o
        concurrency = o.workers + min(2, o.queue_limit)
        # rendering is ~4 ms and ~50 KB a check: the whole probe's checks are rendered before it
        await feeder.fill(generator, int(40 * o.probe_s) + 16)
        rec = Recorder()
        t0 = await generator.closed_loop(concurrency, o.probe_s, rec)
        warm = min(3.0, o.probe_s / 4)
        capacity = rate_in_window(rec.ok_end_times, t0 + warm, t0 + o.probe_s)
        if capacity <= 0:
            capacity = rec.latency.get_total_count() / o.probe_s
        probe = window_summary(rec, o.probe_s)
        probe |= {
            "method": f"closed loop, {concurrency} checks in flight, {o.probe_s:.0f} s, "
            f"completions counted after {warm:.1f} s",
            "loadavg_after": list(os.getloadavg()),
        }
        return capacity, probe

    async def hold(
        self, generator: Generator, feeder: Feeder, server: ServeProcess, rate: float
    ) -> list[dict[str, Any]]:
        """Poisson arrivals at `rate` for the whole soak; one record per interval."""
        o = self.o
        loop = asyncio.get_running_loop()
        duration = o.minutes * 60.0
        windows = max(1, round(duration / o.interval_s))
        recorders = [Recorder() for _ in range(windows)]
        minutes: list[dict[str, Any]] = []
        target = [max(16, int(rate * o.buffer_s))]
        keeper = asyncio.create_task(feeder.keep_ahead(generator, target))
        rng = random.Random(self.rng.getrandbits(32))
        t0 = loop.time() + 0.05
        tasks: set[asyncio.Task[None]] = set()

        async def sampler() -> None:
            before = system_cpu()
            for index in range(windows):
                await asyncio.sleep(max(0.0, t0 + (index + 1) * o.interval_s - loop.time()))
                record: dict[str, Any] = {"window": index + 1, "t_s": (index + 1) * o.interval_s}
                record |= self.sample(server, before)
                record["in_flight"] = len(tasks)
                record["materials_buffered"] = len(generator.materials)
                before = system_cpu()
                minutes.append(record)
                self.say(
                    f"soak {index + 1}/{windows}: load {record['loadavg'][0]:.2f}, "
                    + ", ".join(
                        f"{k} {v['rss_mb']:.0f} MB/{v['fds']} fds" for k, v in record["processes"].items()
                    )
                )
                self.checkpoint(minutes, recorders)

        sampling = asyncio.create_task(sampler())
        t = t0
        try:
            while True:
                t += rng.expovariate(rate)
                if t - t0 >= duration:
                    break
                delay = t - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                rec = recorders[min(windows - 1, int((t - t0) // o.interval_s))]
                task = asyncio.create_task(generator.one(t, rec))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*list(tasks))
            await sampling
        finally:
            keeper.cancel()
            sampling.cancel()
        for record, rec in zip(minutes, recorders, strict=False):
            record |= window_summary(rec, o.interval_s)
        return minutes

    def checkpoint(self, minutes: list[dict[str, Any]], recorders: list[Recorder]) -> None:
        """The samples so far on disk, so a run cut short still leaves its curves."""
        partial = dict(self.report)
        partial["windows"] = [
            m | window_summary(rec, self.o.interval_s) for m, rec in zip(minutes, recorders, strict=False)
        ]
        partial["partial"] = True
        self.o.out.mkdir(parents=True, exist_ok=True)
        path = self.o.out / ".soak-partial.json"
        path.write_text(json.dumps(partial, indent=1, default=str), encoding="utf-8")

    async def main(self) -> dict[str, Any]:
        o = self.o
        from bhytgate_clients.devsetup import default_faces_dir

        faces = o.faces or default_faces_dir() or REPO.parent / "shared" / "faces"
        started = time.monotonic()
        self.report: dict[str, Any] = {
            "schema": "bhytgate-soak/1",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "label": o.label,
            "machine": machine_info(),
            "dlib_build": dlib_build(),
            "workers": o.workers,
            "queue_limit": o.queue_limit,
            "deadline_s": o.deadline_s,
            "minutes": o.minutes,
            "interval_s": o.interval_s,
            "fraction": o.fraction,
            "channels": o.channels_per_terminal * 4,
            "mix": o.mix.as_dict(),
            "policy_overrides": BENCH_POLICY,
            "loadavg_start": list(os.getloadavg()),
            "notes": self.notes,
        }
        with tempfile.TemporaryDirectory(prefix="bhytgate-soak-") as tmp:
            self.say("preparing a fresh home: dev PKI, card lab, entitlements")
            self.bench = prepare_home(Path(tmp) / "home", faces, workers=o.workers, queue_limit=o.queue_limit)
            feeder = Feeder(self.bench, o.mix, self.rng, o.render_processes)
            chips = ChipBank(self.bench.cards, process=o.chip_process)
            self.say("starting bhytgate serve")
            server = ServeProcess(self.bench.home, faces, o.workers, o.queue_limit, Path(tmp) / "serve.log")
            self.report["server"] = {"command": " ".join(server.args[1:]), "address": server.address}
            self.report["at_start"] = self.sample(server, None)
            generator = Generator(
                server.address,
                self.bench.home,
                self.bench.cards,
                chips,
                channels_per_terminal=o.channels_per_terminal,
                deadline_s=o.deadline_s,
            )
            stop: dict[str, Any] = {}
            try:
                await generator.connect()
                self.say(f"warm-up {o.warmup_s:.0f} s")
                concurrency = o.workers + min(2, o.queue_limit)
                await feeder.fill(generator, concurrency * 8)
                await generator.closed_loop(concurrency, o.warmup_s, Recorder())
                if o.rate is None:
                    self.say(f"capacity probe {o.probe_s:.0f} s")
                    capacity, probe = await self.capacity(generator, feeder)
                    self.report["capacity_rps"] = capacity
                    self.report["capacity_probe"] = probe
                    rate = max(0.2, capacity * o.fraction)
                else:
                    self.report["capacity_rps"] = None
                    rate = o.rate
                self.report["rate_rps"] = rate
                generator.materials.clear()  # the probe's leftovers: fresh checks from here on
                await feeder.fill(generator, max(16, int(rate * o.buffer_s)))
                self.report["before_soak"] = self.sample(server, None)
                self.report["loadavg_soak_start"] = list(os.getloadavg())
                self.say(f"holding {rate:.2f} checks/s for {o.minutes:g} min")
                self.report["windows"] = await self.hold(generator, feeder, server, rate)
                self.report["after_soak"] = self.sample(server, None)
            finally:
                await generator.close()
                stop = server.stop()
                chips.close()
                feeder.close()
            self.report["shutdown"] = stop
            self.report["rendered_checks"] = feeder.rendered
        self.report["loadavg_end"] = list(os.getloadavg())
        self.report["elapsed_s"] = time.monotonic() - started
        from .soak_report import add_verdict

        add_verdict(self.report)
        partial = o.out / ".soak-partial.json"
        if partial.exists():
            partial.unlink()
        return self.report


def run_soak(options: SoakOptions, say: Any = None) -> dict[str, Any]:
    return asyncio.run(Soak(options, say).main())

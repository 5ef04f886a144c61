"""The campaign runner: seeds, one worker per target (JOBS at a time), replay of the slowest inputs,
the report.

    nice -n 19 python -m benchmarks.fuzz [--minutes 35] [--jobs 2] [--targets sod,dg1,...]
        [--engine auto|atheris|random] [--workdir /tmp/bhytgate-fuzz] [--report FILE] [--keep-corpus]
    python -m benchmarks.fuzz --list
    python -m benchmarks.fuzz --report-only [--workdir ...] [--report FILE]
    python -m benchmarks.fuzz.worker --replay TARGET WORKDIR FILE...

The wall-clock budget is split over the targets by weight (time, not inputs: fast parsers get more
inputs in the same time). The runner lowers its own priority to nice 19 (the workers inherit it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.fuzz import report, seeds
from benchmarks.fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 8.0  # per worker: imports under instrumentation, seed runs (measured 2-6 s here)
REPLAY_SLOW_S = 1.0


def _engine(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import atheris  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return "random"
    return "atheris"


def _lower_priority(level: int) -> None:
    current = os.nice(0)
    if current < level:
        os.nice(level - current)


def _schedule(names: list[str], minutes: float, jobs: int) -> dict[str, float]:
    total = minutes * 60 * jobs - STARTUP_S * len(names)
    weights = {n: TARGETS[n].weight for n in names}
    scale = max(10.0, total) / sum(weights.values())
    return {n: max(10.0, w * scale) for n, w in weights.items()}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _worker(name: str, workdir: Path, seconds: float, engine: str) -> subprocess.Popen[bytes]:
    log = (workdir / "logs" / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fuzz.worker", name, str(workdir), f"{seconds:.0f}", engine],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(),
        cwd=REPO,
    )


def _coverage(log: Path) -> dict[str, int] | None:
    """The last `cov: N ft: M corp: K/...` libFuzzer printed."""
    if not log.exists():
        return None
    last = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if " cov: " in line and " ft: " in line:
            last = line
    if last is None:
        return None
    words = last.split()
    try:
        corp = words[words.index("corp:") + 1].split("/")[0]
        return {
            "cov": int(words[words.index("cov:") + 1]),
            "ft": int(words[words.index("ft:") + 1]),
            "corpus": int(corp),
        }
    except (ValueError, IndexError):
        return None


def _artifacts(workdir: Path, name: str) -> list[str]:
    folder = workdir / "artifacts" / name
    return sorted(str(p) for p in folder.iterdir()) if folder.is_dir() else []


def run_campaign(args: argparse.Namespace) -> dict[str, Any]:
    workdir: Path = args.workdir
    names = args.targets
    engine = _engine(args.engine)
    for sub in ("stats", "crashes", "slowest", "logs", "artifacts") + (
        () if args.keep_corpus else ("corpus",)
    ):
        shutil.rmtree(workdir / sub, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    started = time.time()
    seed_counts = seeds.build(workdir)
    budget = _schedule(names, args.minutes - (time.time() - started) / 60, args.jobs)
    print(
        f"engine {engine}; {len(names)} targets; seeds {sum(seed_counts.values())}; jobs {args.jobs}",
        flush=True,
    )
    queue = sorted(names, key=lambda n: -budget[n])
    running: dict[str, tuple[subprocess.Popen[bytes], float]] = {}
    remaining = dict(budget)
    deaths: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    while queue or running:
        while queue and len(running) < args.jobs:
            name = queue.pop(0)
            print(f"  {name}: {remaining[name]:.0f} s", flush=True)
            running[name] = (_worker(name, workdir, remaining[name], engine), time.time())
        time.sleep(1.0)
        for name, (proc, t0) in list(running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del running[name]
            spent = time.time() - t0
            if rc != 0:  # libFuzzer ended it: a hang (-timeout), RSS over the limit, a native crash
                tail = (workdir / "logs" / f"{name}.log").read_text(encoding="utf-8", errors="replace")
                lines = [ln for ln in tail.splitlines() if "==" in ln or "ERROR" in ln or "ALARM" in ln][-6:]
                deaths[name].append(
                    {"rc": rc, "after_s": spent, "log": lines, "artifacts": _artifacts(workdir, name)}
                )
                print(
                    f"  {name}: worker ended with {rc} after {spent:.0f} s: {lines[-1:] or '?'}", flush=True
                )
                remaining[name] -= spent
                if remaining[name] > 20 and len(deaths[name]) < 4:
                    queue.insert(0, name)  # go on with the rest of its time (corpus kept)
    stats = {}
    for name in names:
        path = workdir / "stats" / f"{name}.json"
        stats[name] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        stats[name]["coverage"] = _coverage(workdir / "logs" / f"{name}.log") if engine == "atheris" else None
        stats[name]["deaths"] = deaths[name]
        stats[name]["budget_s"] = budget[name]
        stats[name]["seeds"] = seed_counts.get(name, 0)
    from benchmarks.machine import machine_info

    summary = {
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "engine": engine,
        "atheris": _atheris_version() if engine == "atheris" else None,
        "minutes": args.minutes,
        "jobs": args.jobs,
        "wall_s": time.time() - started,
        "nice": os.nice(0),
        "targets": stats,
        "command": " ".join(["nice", "-n", "19", "python", "-m", "benchmarks.fuzz", *sys.argv[1:]]),
    }
    summary["replay"] = replay_slowest(workdir, stats)
    return summary


def _atheris_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("atheris")
    except metadata.PackageNotFoundError:
        return None


def replay_slowest(workdir: Path, stats: dict[str, Any]) -> dict[str, Any]:
    """The slowest inputs (CPU and wall) and the first input of each crash signature, again,
    uninstrumented: first (cold) and best of three."""
    out: dict[str, Any] = {}
    for name, data in stats.items():
        files = [Path(v["file"]) for v in data.get("slowest", {}).values() if v.get("file")]
        files += [Path(f) for c in data.get("crashes", {}).values() for f in c.get("files", [])[:1]]
        files += [Path(c["smallest"]) for c in data.get("crashes", {}).values() if c.get("smallest")]
        files = [f for f in dict.fromkeys(files) if f.exists()]
        if not files:
            continue
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.fuzz.worker",
                "--replay",
                name,
                str(workdir),
                *map(str, files),
            ],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=REPO,
            timeout=600,
            check=False,
        )
        try:
            out[name] = json.loads(proc.stdout)
        except json.JSONDecodeError:
            out[name] = [{"error": proc.stderr[-2000:]}]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=35.0, help="wall-clock budget of the whole campaign")
    parser.add_argument("--jobs", type=int, default=2, help="workers at a time")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all)")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bhytgate-fuzz"))
    parser.add_argument("--report", type=Path, default=None, help="default benchmarks/results/<date>-fuzz.md")
    parser.add_argument("--keep-corpus", action="store_true", help="start from the last campaign's corpus")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from WORKDIR/summary.json"
    )
    parser.add_argument("--replay-again", action="store_true", help="with --report-only: replay again")
    parser.add_argument("--nice", type=int, default=19)
    args = parser.parse_args(argv)
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:20s} {t.calls}\n{'':20s} typed: {t.typed}")
        return 0
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    args.workdir = args.workdir.resolve()
    summary_path = args.workdir / "summary.json"
    if args.report_only:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if args.replay_again:
            _lower_priority(args.nice)
            summary["replay"] = replay_slowest(args.workdir, summary["targets"])
            summary_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    else:
        _lower_priority(args.nice)
        args.workdir.mkdir(parents=True, exist_ok=True)
        summary = run_campaign(args)
        summary_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    out = args.report or REPO / "benchmarks" / "results" / f"{summary['date']}-fuzz.md"
    out.write_text(report.render(summary), encoding="utf-8")
    totals = report.totals(summary)
    print(
        f"{totals['runs']:,} inputs in {totals['fuzz_wall_s']:.0f} s of fuzzing ({totals['rate']:.0f}/s), "
        f"crashes: {totals['crashes']}; report: {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The compute floor (a check in-process, one at a time, one thread) with the embedding on dlib and on
onnxruntime, in one run: the same rendered checks through the same `Gateway`, interleaved by round.

    python -m benchmarks.floor_embedders [--checks N] [--rounds N] [--out benchmarks/results/NAME]

The load harness's floor (benchmarks/load/inproc.py) with only `FaceConfig.embedder` changed, so the
difference is the embedding's alone. Writes NAME.json and NAME.md with the machine beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.load.inproc import measure_floor, one_blas_thread
from benchmarks.load.workload import Mix, plan, prepare_home, render
from benchmarks.machine import dlib_build, machine_info, with_load_average

ROOT = Path(__file__).resolve().parent.parent
EMBEDDERS = ("dlib", "onnx")


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p90": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    threads = one_blas_thread()
    with tempfile.TemporaryDirectory(prefix="bhytgate-floor-") as tmp:
        bench = prepare_home(Path(tmp) / "home", args.faces, workers=1, queue_limit=0)
        rng = random.Random(args.seed)
        warm = [render(s) for s in plan(bench, 6, Mix(), rng)]
        checks = [render(s) for s in plan(bench, args.checks, Mix(), rng)]
        totals: dict[str, list[float]] = {e: [] for e in EMBEDDERS}
        embed: dict[str, list[float]] = {e: [] for e in EMBEDDERS}
        by_kind: dict[str, dict[str, list[float]]] = {e: {} for e in EMBEDDERS}
        for _ in range(args.rounds):
            for name in EMBEDDERS:
                face = dataclasses.replace(bench.config.face, embedder=name)
                config = dataclasses.replace(bench.config, face=face)
                samples = await measure_floor(bench, checks, warmup=warm, config=config)
                for s in samples:
                    totals[name].append(s.millis)
                    by_kind[name].setdefault(s.kind, []).append(s.millis)
                    embed[name].append(sum(ms for stage, ms in s.stages if stage.endswith("embed")))
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dlib_build": dlib_build(),
        "blas_threads": threads,
        "checks": args.checks,
        "rounds": args.rounds,
        "floor_ms": {e: _summary(v) for e, v in totals.items()},
        "embed_ms_per_check": {e: _summary(v) for e, v in embed.items()},
        "by_kind": {e: {k: _summary(v) for k, v in kinds.items()} for e, kinds in by_kind.items()},
    }


def _md(r: dict[str, Any], load: tuple[list[float], list[float]]) -> str:
    lines = [
        f"# Compute floor, dlib vs onnxruntime embedding ({r['date']})",
        "",
        f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, git {r['machine']['git']}, "
        f"{r['dlib_build']}; {r['checks']} checks x {r['rounds']} rounds per embedder, interleaved; "
        f"load average {load[0]} at start, {load[1]} at end (shared with other engineers).",
        "",
        "| embedder | floor median (mean, p90) ms | embedding per check, mean ms |"
        + "".join(f" {k} median |" for k in sorted(r["by_kind"]["onnx"])),
        "|---|---|---|" + "---|" * len(r["by_kind"]["onnx"]),
    ]
    for e in EMBEDDERS:
        f, m = r["floor_ms"][e], r["embed_ms_per_check"][e]
        kinds = "".join(f" {r['by_kind'][e][k]['median']:.1f} |" for k in sorted(r["by_kind"]["onnx"]))
        lines.append(
            f"| {e} | {f['median']:.1f} ({f['mean']:.1f}, {f['p90']:.1f}) | {m['mean']:.1f} |{kinds}"
        )
    return "\n".join([*lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = with_load_average(lambda: asyncio.run(_main(args)))
    start, end = report["loadavg"]
    text = _md(report, (start, end))
    print(text)
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

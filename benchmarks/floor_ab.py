"""The compute floor under two values of one module-level setting, interleaved in one process.

    python -m benchmarks.floor_ab bhytgate.face.detect:CONFIRM_REGION 2.0 1.5 [--checks 50] [--rounds 4]

The load harness's floor (benchmarks/load/inproc.py: the same rendered checks through the same
`Gateway`, one at a time, no gRPC) with the setting switched between rounds, A-B then B-A, so that
a change of a few percent is not lost in the run-to-run drift of whole benchmarks (two full runs'
floors on one VM differed by 18% with no change to the check path in between). Prints the mean, the
median and the median per kind of check for each value; writes NAME.json with the machine with
``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
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


def _target(spec: str) -> tuple[Any, str]:
    """`package.module:NAME`: the module and the name of the setting to switch."""
    module_name, sep, name = spec.partition(":")
    if not sep or not name.isidentifier():
        raise SystemExit(f"setting must be package.module:NAME, got {spec!r}")
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        raise SystemExit(f"{module_name} has no {name}")
    return module, name


def _value(text: str, current: Any) -> Any:
    """The command line's value in the setting's own type (int, float, bool or str)."""
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "yes")
    return type(current)(text) if isinstance(current, int | float | str) else text


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    module, name = _target(args.setting)
    original = getattr(module, name)
    values = [_value(args.a, original), _value(args.b, original)]
    threads = one_blas_thread()
    totals: dict[str, list[float]] = {str(v): [] for v in values}
    kinds: dict[str, dict[str, list[float]]] = {str(v): {} for v in values}
    try:
        with tempfile.TemporaryDirectory(prefix="bhytgate-floor-ab-") as tmp:
            bench = prepare_home(Path(tmp) / "home", args.faces, workers=1, queue_limit=0)
            rng = random.Random(args.seed)
            warm = [render(s) for s in plan(bench, 6, Mix(), rng)]
            for round_ in range(args.rounds):
                checks = [render(s) for s in plan(bench, args.checks, Mix(), rng)]
                for value in values if round_ % 2 == 0 else values[::-1]:
                    setattr(module, name, value)
                    for sample in await measure_floor(bench, checks, warmup=warm):
                        totals[str(value)].append(sample.millis)
                        kinds[str(value)].setdefault(sample.kind, []).append(sample.millis)
    finally:
        setattr(module, name, original)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dlib_build": dlib_build(),
        "blas_threads": threads,
        "setting": args.setting,
        "checks": args.checks,
        "rounds": args.rounds,
        "floor_ms": {
            v: {
                "n": len(ms),
                "mean": statistics.fmean(ms),
                "median": statistics.median(ms),
                "by_kind_median": {k: statistics.median(x) for k, x in sorted(kinds[v].items())},
            }
            for v, ms in totals.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("setting", help="package.module:NAME")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--checks", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = with_load_average(lambda: asyncio.run(_main(args)))
    for value, f in report["floor_ms"].items():
        kinds = ", ".join(f"{k} {m:.1f}" for k, m in f["by_kind_median"].items())
        print(
            f"{report['setting']} = {value}: mean {f['mean']:.1f} ms, median {f['median']:.1f}"
            f" (n={f['n']}; {kinds})"
        )
    print(f"load average {report['loadavg'][0]} at start, {report['loadavg'][1]} at end")
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

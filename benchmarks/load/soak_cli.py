"""`python -m benchmarks.load soak`: the soak's command line (see `benchmarks.load.soak`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .soak import SoakOptions, run_soak
from .soak_report import write_outputs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.load soak",
        description="Hold a real `bhytgate serve` at a fraction of its capacity and record its memory.",
    )
    d = SoakOptions()
    p.add_argument("--minutes", type=float, default=d.minutes, help="length of the soak (default 30)")
    p.add_argument("--fraction", type=float, default=d.fraction, help="of the measured capacity (0.7)")
    p.add_argument("--rate", type=float, default=None, help="checks/s instead of measuring capacity")
    p.add_argument("--interval", type=float, default=d.interval_s, help="seconds per sample (60)")
    p.add_argument("--probe", type=float, default=d.probe_s, help="capacity probe, seconds (30)")
    p.add_argument("--warmup", type=float, default=d.warmup_s, help="warm-up, seconds (10)")
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--queue-limit", type=int, default=d.queue_limit)
    p.add_argument("--faces", type=Path, default=None, help="the labelled photos (../shared/faces)")
    p.add_argument("--out", type=Path, default=d.out, help="where to write the results")
    p.add_argument("--label", default="", help="appended to the file names")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0 or not 0 < args.fraction <= 2:
        parser().error("--minutes and --interval must be positive, --fraction in (0, 2]")
    if args.rate is not None and args.rate <= 0:
        parser().error("--rate must be positive")
    options = SoakOptions(
        out=args.out,
        minutes=args.minutes,
        fraction=args.fraction,
        rate=args.rate,
        interval_s=args.interval,
        probe_s=args.probe,
        warmup_s=args.warmup,
        workers=args.workers,
        queue_limit=args.queue_limit,
        faces=args.faces,
        label=args.label,
    )
    report = run_soak(options)
    paths = write_outputs(report, args.out)
    v = report["verdict"]
    print(f"memory flat: {v['memory_flat']}; p99 per window {v['p99_ms_min']}..{v['p99_ms_max']} ms")
    for path in paths.values():
        print(path)

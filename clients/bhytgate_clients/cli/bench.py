"""`bhytgate bench`: the load benchmark (open-loop sweep, compute floor, naive baseline) on loopback.

The harness lives in the repository's `benchmarks/` folder (not in the installed package); run from
the repository, or anywhere inside a checkout of it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click


def _import_harness() -> Any:
    try:
        import benchmarks.load.run as harness
    except ModuleNotFoundError:
        repo = Path(__file__).resolve().parents[3]
        if not (repo / "benchmarks" / "load" / "run.py").is_file():
            raise click.ClickException(
                "benchmarks/ not found: run `bhytgate bench` from the repository"
            ) from None
        sys.path.insert(0, str(repo))
        import benchmarks.load.run as harness
    return harness


@click.command()
@click.option("--quick", is_flag=True, help="A short run (under two minutes): fewer, shorter steps.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write <date>-<machine>[-quick].json/.md/.png (default: benchmarks/results).",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Face worker processes.")
@click.option(
    "--queue-limit",
    type=int,
    default=3,
    show_default=True,
    help="Face work admitted beyond the busy workers, in average checks (the gateway's default).",
)
@click.option("--duration-per-step", "step_s", type=float, default=None, help="Seconds per sweep step.")
@click.option(
    "--faces",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The labelled photos (default: ../shared/faces).",
)
@click.option("--budget", "budget_s", type=float, default=None, help="Hard bound on the run, seconds.")
def bench(
    quick: bool,
    out: Path | None,
    workers: int,
    queue_limit: int,
    step_s: float | None,
    faces: Path | None,
    budget_s: float | None,
) -> None:
    """Measure latency and capacity under an open-loop load, against the compute floor and a baseline.

    Loopback only: the gateway runs in a child process on 127.0.0.1 with a fresh temporary home."""
    harness = _import_harness()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from benchmarks.load.report import check_report, write_outputs

    options = harness.Options(
        quick=quick,
        workers=workers,
        queue_limit=queue_limit,
        step_s=step_s,
        faces=faces,
        budget_s=budget_s,
    )
    if out is not None:
        options.out = out
    console = Console(stderr=True)
    resolved = options.resolved()

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=1.0)

        class _Progress(harness.Progress):  # type: ignore[name-defined,misc]
            def phase(self, name: str) -> None:
                bar.update(task, description=name)

            def advance(self, fraction: float) -> None:
                bar.advance(task, fraction)

        started = time.monotonic()
        report = harness.run(options, _Progress())
        bar.update(task, completed=1.0, description=f"done in {time.monotonic() - started:.0f} s")
    paths = write_outputs(report, resolved.out)
    problems = check_report(report)
    r = report["ratios"]
    console.print(
        f"floor {report['floor_ms']:.0f} ms, capacity {report['capacity_rps']:.2f}/s "
        f"({(r['capacity_vs_ideal'] or 0):.2f} of workers/floor), "
        f"baseline {report['baseline_capacity_rps']:.2f}/s "
        f"({(r['capacity_vs_baseline'] or 0):.2f}x)"
    )
    for t in report["targets"]:
        met = {True: "[green]met[/]", False: "[red]not met[/]", None: "not measured"}[t["met"]]
        console.print(f"  {t['target']}: {t['goal']} -> {t['measured']} {met}")
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    if problems:
        raise click.ClickException("incomplete report: " + "; ".join(problems))

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
    default=12,
    show_default=True,
    help="Face jobs that may wait beyond the busy workers (the gateway's default; admission is by "
    "expected completion within the caller's deadline, service/admission.py).",
)
@click.option("--duration-per-step", "step_s", type=float, default=None, help="Seconds per sweep step.")
@click.option(
    "--faces",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The labelled photos (default: ../shared/faces).",
)
@click.option("--budget", "budget_s", type=float, default=None, help="Hard bound on the run, seconds.")
@click.option(
    "--database",
    default=None,
    help="postgresql://USER@HOST:PORT/PREFIX: measure gateway replicas over PostgreSQL (a fresh database"
    " PREFIX_<n>r_<random> per replica count, created and dropped) beside the SQLite single process.",
)
@click.option(
    "--replicas",
    default="1,2,3",
    show_default=True,
    help="With --database: replica counts to measure (face workers per replica: max(1, workers // N)).",
)
@click.option(
    "--no-sqlite", is_flag=True, help="With --database: skip the SQLite single-process configuration."
)
@click.option(
    "--audit-records",
    type=int,
    default=None,
    help="With --database: audit appends per writer (1 and 3 writers; 0 skips; default 2000, quick 200).",
)
@click.option(
    "--pg-nosync-variant/--no-pg-nosync-variant",
    "nosync",
    default=None,
    help="With --database: also 1 replica with synchronous_commit=off (what the commits' WAL flushes"
    " cost; not a setting to ship). Default: on for full runs, off for --quick.",
)
def bench(
    quick: bool,
    out: Path | None,
    workers: int,
    queue_limit: int,
    step_s: float | None,
    faces: Path | None,
    budget_s: float | None,
    database: str | None,
    replicas: str,
    no_sqlite: bool,
    audit_records: int | None,
    nosync: bool | None,
) -> None:
    """Measure latency and capacity under an open-loop load, against the compute floor and a baseline.

    Loopback only: the gateway runs in a child process on 127.0.0.1 with a fresh temporary home.
    With --database: the SQLite single process and 1, 2, 3 replicas over PostgreSQL in one run
    (capacity, p99 at 50% and 70%, statements and database time per check, audit append rate)."""
    if database is not None:
        try:
            counts = [int(n) for n in replicas.split(",") if n.strip()]
        except ValueError:
            raise click.BadParameter("comma-separated numbers, e.g. 1,2,3", param_hint="--replicas") from None
        if not counts or any(n < 1 or n > 8 for n in counts):
            raise click.BadParameter("replica counts from 1 to 8", param_hint="--replicas")
        _bench_cluster(
            database,
            counts,
            quick,
            out,
            workers,
            queue_limit,
            step_s,
            faces,
            budget_s,
            no_sqlite,
            audit_records,
            nosync,
        )
        return
    harness = _import_harness()
    from rich.console import Console

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
    report = _with_progress(console, harness.run, options)
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


def _with_progress(console: Any, run: Any, options: Any) -> Any:
    """`run(options, progress)` under a progress bar on stderr; returns the report."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    harness = _import_harness()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=1.0)

        class _Progress(harness.Progress):  # type: ignore[name-defined,misc]
            def phase(self, name: str) -> None:
                bar.update(task, description=name)

            def advance(self, fraction: float) -> None:
                bar.advance(task, fraction)

        started = time.monotonic()
        report = run(options, _Progress())
        bar.update(task, completed=1.0, description=f"done in {time.monotonic() - started:.0f} s")
    return report


def _bench_cluster(
    database: str,
    counts: list[int],
    quick: bool,
    out: Path | None,
    workers: int,
    queue_limit: int,
    step_s: float | None,
    faces: Path | None,
    budget_s: float | None,
    no_sqlite: bool,
    audit_records: int | None,
    nosync: bool | None,
) -> None:
    """The replica matrix (benchmarks/load/cluster.py)."""
    _import_harness()  # puts the repository's benchmarks/ on the path
    from rich.console import Console

    from benchmarks.load import cluster
    from benchmarks.load.cluster_report import check_report, write_outputs

    if not database.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("a postgresql:// URL", param_hint="--database")
    options = cluster.ClusterOptions(
        quick=quick,
        workers=workers,
        queue_limit=queue_limit,
        step_s=step_s,
        faces=faces,
        budget_s=budget_s,
        database=database,
        replicas=tuple(counts),
        sqlite=not no_sqlite,
        audit_records=audit_records,
        nosync_variant=nosync,
    )
    if out is not None:
        options.out = out
    console = Console(stderr=True)
    report = _with_progress(console, cluster.run, options)
    paths = write_outputs(report, options.out)
    for s in report["summary"]:
        console.print(
            f"{s['name']:>12}: capacity {s['capacity_rps'] or 0:.2f}/s, "
            f"p99 {s['p99_at_50_ms'] or 0:.0f} ms at 50% / {s['p99_at_70_ms'] or 0:.0f} ms at 70%, "
            f"DB {s['db_ms_per_check_p50_at_50'] or 0:.2f} ms/check (median), "
            f"{s['statements_per_check_p50'] or 0:.0f} statements/check"
        )
    for r in (report.get("audit_append") or {}).get("results", []):
        console.print(f"  audit append, {r['engine']} x {r['writers']} writers: {r['appends_per_s']:.0f}/s")
    for t in report["targets"]:
        met = {True: "[green]met[/]", False: "[red]not met[/]", None: "not measured"}[t["met"]]
        measured = t["measured"]
        console.print(
            f"  {t['target']}: {t['goal']} -> {measured if measured is None else round(measured, 3)} {met}"
        )
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    problems = check_report(report)
    if problems:
        raise click.ClickException("incomplete report: " + "; ".join(problems))

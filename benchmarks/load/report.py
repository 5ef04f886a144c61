"""Verdicts against the issue's targets, and the three outputs: JSON, Markdown, PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_line

REQUIRED_KEYS = (
    "workers",
    "floor_ms",
    "capacity_rps",
    "baseline_capacity_rps",
    "machine",
    "dlib_build",
    "steps",
)
STEP_KEYS = (
    "offered_rps",
    "achieved_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "samples",
    "errors_by_status",
)


def _step_at(steps: list[dict[str, Any]], level: float) -> dict[str, Any] | None:
    candidates = [s for s in steps if s.get("level") is not None and abs(s["level"] - level) < 1e-6]
    return candidates[0] if candidates else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def add_verdicts(report: dict[str, Any]) -> None:
    floor = float(report.get("floor_ms") or 0.0)
    workers = int(report.get("workers") or 1)
    capacity = float(report.get("capacity_rps") or 0.0)
    ideal = workers / (floor / 1000) if floor else None
    mean = report.get("floor", {}).get("mean")
    report["ideal_capacity_rps"] = ideal
    report["ideal_capacity_mean_rps"] = workers / (mean / 1000) if mean else None
    steps = report.get("steps", [])
    base = report.get("baseline", {})
    base_capacity = report.get("baseline_capacity_rps")
    sustained = [
        s["offered_rps"]
        for s in steps
        if s["shed_fraction"] <= 0.01
        and s["achieved_rps"] >= 0.95 * s["offered_actual_rps"]
        and not any(status != "RESOURCE_EXHAUSTED" for status in s["errors_by_status"])
    ]
    report["sustained_rps"] = max(sustained, default=0.0)
    # The machine is shared: what would the gateway do with every core to itself? From the CPU the
    # probe's checks actually used (an estimate, not a measurement).
    probe = (report.get("capacity_probe") or {}).get("server", {})
    per_check = probe.get("cpu_ms_per_check", {})
    cores = int(report.get("machine", {}).get("cores") or workers)
    estimate = None
    if per_check.get("face_workers"):
        ours = sum(v for v in per_check.values() if v)
        estimate = min(workers * 1000 / per_check["face_workers"], cores * 1000 / ours)
    report["cpu_bound_capacity_rps"] = estimate
    report["probe_other_processes_cores"] = probe.get("other_processes_cores_busy")
    floor_p99 = report.get("floor", {}).get("p99")
    at50, at70, at150 = _step_at(steps, 0.5), _step_at(steps, 0.7), _step_at(steps, 1.5)
    b50 = _step_at(base.get("steps", []), 0.5)
    report["ratios"] = {
        "capacity_vs_ideal": _ratio(capacity, ideal),
        "capacity_vs_baseline": _ratio(capacity, base_capacity),
        "floor_vs_baseline_floor": _ratio(floor, report.get("baseline_floor_ms")),
        "p99_at_50_vs_floor": _ratio(at50["p99_ms"], floor) if at50 else None,
        "p99_at_70_vs_floor": _ratio(at70["p99_ms"], floor) if at70 else None,
        "p99_at_150_vs_floor": _ratio(at150["p99_ms"], floor) if at150 else None,
        "p99_at_50_vs_baseline_p99_at_50": _ratio(at50["p99_ms"], b50["p99_ms"]) if at50 and b50 else None,
        "p99_at_50_vs_floor_p99": _ratio(at50["p99_ms"], floor_p99) if at50 else None,
        "p99_at_70_vs_floor_p99": _ratio(at70["p99_ms"], floor_p99) if at70 else None,
        "cpu_bound_capacity_vs_ideal": _ratio(estimate, ideal),
    }
    targets: list[dict[str, Any]] = []

    def target(name: str, goal: str, measured: Any, met: bool | None) -> None:
        targets.append({"target": name, "goal": goal, "measured": measured, "met": met})

    r = report["ratios"]
    target(
        "capacity vs workers/floor",
        ">= 0.85",
        r["capacity_vs_ideal"],
        None if r["capacity_vs_ideal"] is None else r["capacity_vs_ideal"] >= 0.85,
    )
    target(
        "p99 at 50% of capacity",
        "<= 3x floor",
        r["p99_at_50_vs_floor"],
        None if r["p99_at_50_vs_floor"] is None else r["p99_at_50_vs_floor"] <= 3,
    )
    target(
        "p99 at 70% of capacity",
        "<= 5x floor",
        r["p99_at_70_vs_floor"],
        None if r["p99_at_70_vs_floor"] is None else r["p99_at_70_vs_floor"] <= 5,
    )
    if at150 is not None:
        others = {k: v for k, v in at150["errors_by_status"].items() if k != "RESOURCE_EXHAUSTED"}
        quick = max(50.0, 0.5 * floor)  # a refusal costs the caller under half a check
        target(
            "accepted p99 at 150%",
            "<= 5x floor",
            r["p99_at_150_vs_floor"],
            r["p99_at_150_vs_floor"] is not None and r["p99_at_150_vs_floor"] <= 5,
        )
        target(
            "shed calls at 150%",
            f"RESOURCE_EXHAUSTED, p99 <= {quick:.0f} ms",
            {"shed": at150["shed"], "shed_p99_ms": at150["shed_p99_ms"]},
            (at150["shed_p99_ms"] <= quick) if at150["shed"] else None,  # None: overload not reached
        )
        target("other errors at 150%", "none", others, not others)
    else:
        target("overload at 150%", "measured", None, None)
    target(
        "capacity vs baseline",
        ">= 3x",
        r["capacity_vs_baseline"],
        None if r["capacity_vs_baseline"] is None else r["capacity_vs_baseline"] >= 3,
    )
    report["targets"] = targets


def check_report(report: dict[str, Any]) -> list[str]:
    """What is missing or malformed (empty when the report is complete)."""
    problems = [f"missing {k}" for k in REQUIRED_KEYS if k not in report]
    steps = report.get("steps") or []
    if not steps:
        problems.append("no steps")
    for i, step in enumerate(steps):
        for key in STEP_KEYS:
            if key not in step:
                problems.append(f"steps[{i}] missing {key}")
            elif key != "errors_by_status" and not (
                isinstance(step[key], int | float) and math.isfinite(step[key]) and step[key] >= 0
            ):
                problems.append(f"steps[{i}].{key} = {step[key]!r}")
        if not isinstance(step.get("errors_by_status"), dict):
            problems.append(f"steps[{i}].errors_by_status is not a mapping")
    for key in ("floor_ms", "capacity_rps", "baseline_capacity_rps"):
        value = report.get(key)
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            problems.append(f"{key} = {value!r}")
    return problems


def stem(report: dict[str, Any]) -> str:
    date = str(report["date"])[:10]
    machine = str(report["machine"].get("hostname_kind", "machine"))
    suffix = "" if report.get("mode") == "full" else f"-{report.get('mode')}"
    return f"{date}-{machine}{suffix}"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(report: dict[str, Any], png_name: str | None) -> str:
    r = report.get("ratios", {})
    m = report["machine"]
    lines = [
        f"# bhytgate load benchmark — {report['date']} ({report['mode']})",
        "",
        f"Machine: {machine_line(m)}, "
        f"{report['dlib_build']}, git {m.get('git')}. Face workers: {report['workers']}, "
        f"queue limit {report['queue_limit']}, "
        f"deadline {report['deadline_s']} s, {report['channels']} TLS connections, "
        f"{report['duration_per_step_s']} s per step. Elapsed {report.get('elapsed_s', 0):.0f} s. "
        f"Floors measured with {report.get('floor_blas_threads') or 'no'} BLAS thread(s), as a worker runs.",
        "",
        "## Summary",
        "",
        *(
            [
                f"**{report['mode']} run: steps of {report['duration_per_step_s']} s and a short "
                "capacity probe; these figures are indicative only (a few samples per step). "
                "Use the full run for targets.**",
                "",
            ]
            if report.get("mode") != "full"
            else []
        ),
        "| figure | value |",
        "|---|---|",
        f"| compute floor (median check, in-process) | {_fmt(report['floor_ms'])} ms "
        f"(mean {_fmt(report['floor'].get('mean'))} ms) |",
        f"| workers / floor | {_fmt(report.get('ideal_capacity_rps'), 2)} checks/s |",
        f"| capacity (closed-loop probe) | {_fmt(report['capacity_rps'], 2)} checks/s "
        f"({_fmt(r.get('capacity_vs_ideal'), 2)} of workers/floor) |",
        f"| other processes on the machine during the probe | "
        f"{_fmt(report.get('probe_other_processes_cores'), 2)} of {m.get('cores')} cores |",
        f"| capacity if the cores were ours (estimate from CPU per check) | "
        f"{_fmt(report.get('cpu_bound_capacity_rps'), 2)} checks/s "
        f"({_fmt(r.get('cpu_bound_capacity_vs_ideal'), 2)} of workers/floor) |",
        f"| compute floor p99 | {_fmt(report['floor'].get('p99'))} ms; p99 at 50% / floor p99: "
        f"{_fmt(r.get('p99_at_50_vs_floor_p99'), 2)}, at 70%: {_fmt(r.get('p99_at_70_vs_floor_p99'), 2)} |",
        f"| highest sweep step with <1% shed, no errors | {_fmt(report.get('sustained_rps'), 2)} checks/s |",
        f"| baseline floor | {_fmt(report.get('baseline_floor_ms'))} ms |",
        f"| baseline capacity | {_fmt(report.get('baseline_capacity_rps'), 2)} checks/s |",
        f"| capacity / baseline capacity | {_fmt(r.get('capacity_vs_baseline'), 2)}x |",
        f"| p99 at 50% / baseline p99 at its 50% | {_fmt(r.get('p99_at_50_vs_baseline_p99_at_50'), 2)} |",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for t in report.get("targets", []):
        measured = t["measured"]
        shown = _fmt(measured, 2) if not isinstance(measured, dict) else json.dumps(measured)
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {t['goal']} | {shown} | {met} |")
    lines += ["", "## Sweep (our gateway)", ""]
    lines += _steps_table(report.get("steps", []), float(report["floor_ms"] or 1))
    if png_name:
        lines += ["", f"![latency against offered load]({png_name})"]
    lines += ["", "## Where the time goes (server-reported, ms per check: mean / p99)", ""]
    lines += _stage_table(report.get("steps", []))
    lines += ["", "## CPU per check (ms) and cores busy", ""]
    lines += _table(
        [
            "level",
            "server main",
            "face workers",
            "generator",
            "chip process",
            "other processes (cores)",
            "queue depth mean/max",
            "server loop lag p99",
            "overload mode: share / entries",
            "shed by bound",
        ]
    )
    for s in report.get("steps", []):
        c, b, q = s["server"]["cpu_ms_per_check"], s["server"]["cpu_cores_busy"], s["server"]
        cells = [f"{s['level']:.0%}"]
        cells += [
            f"{_fmt(c.get(k))} ({_fmt(b.get(k), 2)})" for k in ("server_main", "face_workers", "generator")
        ]
        cells += [
            f"{_fmt(c.get('chip'))} ({_fmt(b.get('chip'), 2)})",
            _fmt(q.get("other_processes_cores_busy"), 2),
        ]
        cells += [
            f"{q['queue_depth_mean']:.2f} / {q['queue_depth_max']:.0f}",
            f"{q['loop_lag_p99_ms']:.1f} ms",
            f"{q.get('overload_share', 0.0):.0%} / {q.get('overload_entries', 0)}",
            ", ".join(f"{k} {v}" for k, v in sorted(q.get("shed_by", {}).items())) or "none",
        ]
        lines.append(_row(cells))
    base = report.get("baseline", {})
    lines += ["", "## Baseline (naive face_recognition pipeline, same gateway)", ""]
    lines += _steps_table(base.get("steps", []), float(report.get("baseline_floor_ms") or 1))
    lines += [
        "",
        "## Compute floor by kind of check (ms)",
        "",
        *_table(["kind", "n", "median", "mean", "p99", "outcomes"]),
    ]
    for kind, v in report["floor"]["by_kind"].items():
        cells = [kind, str(v["count"]), f"{v['p50']:.1f}", f"{v['mean']:.1f}", f"{v['p99']:.1f}"]
        lines.append(_row([*cells, json.dumps(v["outcomes"])]))
    lines += ["", "## Outcomes by kind of check (all sweep steps)", ""]
    totals: dict[str, dict[str, int]] = {}
    for s in report.get("steps", []):
        for kind, outcomes in s["outcomes"].items():
            for outcome, n in outcomes.items():
                totals.setdefault(kind, {}).setdefault(outcome, 0)
                totals[kind][outcome] += n
    for kind, outcomes in sorted(totals.items()):
        lines.append(f"- {kind}: {json.dumps(outcomes)}")
    unexpected: dict[str, int] = {}
    for s in report.get("steps", []):
        for key, n in s.get("unexpected", {}).items():
            unexpected[key] = unexpected.get(key, 0) + n
    lines += ["", "Genuine holders not accepted (all sweep steps), with every reason given:", ""]
    lines += [f"- {n} x {key}" for key, n in sorted(unexpected.items())] or ["- none"]
    lines += [
        "",
        f"Workload mix: {json.dumps({k: round(v, 3) for k, v in report['mix'].items()})}.",
        f"Bench policy overrides: {json.dumps(report['policy_overrides'])}.",
    ]
    if report.get("notes") or report.get("skipped"):
        lines += [
            "",
            "Notes: "
            + "; ".join(report.get("notes", []) + [f"skipped {s}" for s in report.get("skipped", [])]),
        ]
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str]) -> list[str]:
    return [_row(header), _row(["---"] * len(header))]


def _steps_table(steps: list[dict[str, Any]], floor: float) -> list[str]:
    header = ["level", "offered/s (target)", "achieved/s", "samples", "p50", "p90", "p95", "p99", "p99.9"]
    header += ["max", "p99/floor", "errors", "shed p99", "gen lag p99"]
    lines = _table(header)
    for s in steps:
        errors = ", ".join(f"{k}: {v}" for k, v in s["errors_by_status"].items()) or "none"
        flag = " (generator-limited)" if s.get("generator_limited") else ""
        cells = [f"{s['level']:.0%}", f"{s['offered_actual_rps']:.2f} ({s['offered_rps']:.2f})"]
        cells += [f"{s['achieved_rps']:.2f}", str(s["samples"])]
        cells += [f"{s[k]:.0f}" for k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")]
        cells += [f"{s['p99_ms'] / floor:.2f}", errors, f"{s['shed_p99_ms']:.1f}"]
        cells += [f"{s['generator_lag_p99_ms']:.1f}{flag}"]
        lines.append(_row(cells))
    return lines


STAGES = (
    "chip",
    "face",
    "face.wait",
    "face.worker",
    "face.chip_photo",
    "face.decode",
    "face.detect",
    "face.landmarks",
    "face.embed",
    "face.liveness",
    "face.measure",
    "database",
    "server_total",
)


def _stage_table(steps: list[dict[str, Any]]) -> list[str]:
    lines = ["| level | " + " | ".join(STAGES) + " |", "|---" * (len(STAGES) + 1) + "|"]
    for s in steps:
        cells = []
        for stage in STAGES:
            v = s["stages"].get(stage)
            cells.append(f"{v['mean']:.0f} / {v['p99']:.0f}" if v and v["count"] else "–")
        lines.append(f"| {s['level']:.0%} | " + " | ".join(cells) + " |")
    return lines


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report.get("steps", [])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    floor = float(report["floor_ms"] or 0)
    x = [s["level"] * 100 for s in steps]
    for key, label in (
        ("p50_ms", "p50"),
        ("p95_ms", "p95"),
        ("p99_ms", "p99"),
        ("p999_ms", "p99.9"),
        ("max_ms", "max"),
    ):
        left.plot(x, [max(0.1, s[key]) for s in steps], marker="o", label=label)
    base_steps = report.get("baseline", {}).get("steps", [])
    if base_steps:
        left.plot(
            [s["level"] * 100 for s in base_steps],
            [max(0.1, s["p99_ms"]) for s in base_steps],
            marker="s",
            linestyle="--",
            color="grey",
            label="baseline p99 (of its capacity)",
        )
    if floor:
        for mult, style in ((1, "-"), (3, ":"), (5, "--")):
            left.axhline(floor * mult, color="black", linestyle=style, linewidth=0.8, alpha=0.6)
            left.text(
                x[0] if x else 0, floor * mult * 1.03, f"{mult}x floor" if mult > 1 else "floor", fontsize=7
            )
    left.set_yscale("log")
    left.set_xlabel("offered load, % of measured capacity")
    left.set_ylabel("latency from intended send time (ms)")
    left.set_title(f"accepted calls; capacity {report['capacity_rps']:.2f}/s, {report['workers']} workers")
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    by_offered = sorted(steps, key=lambda s: s["offered_actual_rps"])
    right.plot(
        [s["offered_actual_rps"] for s in by_offered],
        [s["achieved_rps"] for s in by_offered],
        marker="o",
        label="achieved",
    )
    top = max([s["offered_actual_rps"] for s in by_offered] + [1.0])
    right.plot([0, top], [0, top], color="grey", linestyle=":", label="achieved = offered")
    shed = [s["shed"] / s["duration_s"] for s in by_offered]
    right.plot(
        [s["offered_actual_rps"] for s in by_offered], shed, marker="x", label="shed (RESOURCE_EXHAUSTED)/s"
    )
    right.axhline(report["capacity_rps"], color="red", linewidth=0.8, label="capacity (probe)")
    right.set_xlabel("offered checks/s")
    right.set_ylabel("checks/s")
    right.set_title("throughput")
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    fig.suptitle(
        f"bhytgate bench {report['date'][:10]} — {report['machine'].get('cpu')}, {report['dlib_build']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    name = stem(report)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md", "png": out / f"{name}.png"}
    try:
        plot(report, paths["png"])
    except Exception as exc:
        report.setdefault("notes", []).append(f"plot failed: {exc!r}")
        paths.pop("png")
    paths["json"].write_text(
        json.dumps(report, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8"
    )
    paths["md"].write_text(markdown(report, paths["png"].name if "png" in paths else None), encoding="utf-8")
    return paths

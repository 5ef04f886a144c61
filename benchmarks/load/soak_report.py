"""The soak's verdict (is memory flat?), its Markdown report and its chart."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_line

FIT_MINUTES = 20.0  # the slope is fitted over the last 20 minutes: the first ones include warm-up growth
FLAT_MB_PER_MIN = 0.25  # 15 MB an hour: above this a process is said to grow
FLAT_FDS_PER_MIN = 0.1


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two points."""
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def fit_windows(windows: list[dict[str, Any]], total_min: float) -> list[dict[str, Any]]:
    """The windows of the last 20 minutes; for a run shorter than that, its last two thirds."""
    if total_min > FIT_MINUTES:
        start = total_min - FIT_MINUTES
        chosen = [w for w in windows if w["t_s"] / 60.0 > start]
    else:
        chosen = windows[len(windows) // 3 :]
    return chosen if len(chosen) >= 2 else windows


def process_keys(report: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for w in [report.get("before_soak") or {}, *report.get("windows", [])]:
        for key in w.get("processes", {}):
            if key not in keys:
                keys.append(key)
    return keys


def add_verdict(report: dict[str, Any]) -> None:
    windows: list[dict[str, Any]] = report.get("windows", [])
    total_min = windows[-1]["t_s"] / 60.0 if windows else 0.0
    fit = fit_windows(windows, total_min)
    per_process: dict[str, dict[str, Any]] = {}
    for key in process_keys(report):
        points = [(w["t_s"] / 60.0, w["processes"][key]) for w in fit if key in w.get("processes", {})]
        every = [w["processes"][key] for w in windows if key in w.get("processes", {})]
        before = (report.get("before_soak") or {}).get("processes", {}).get(key)
        xs = [x for x, _ in points]
        rss_slope = slope(xs, [p["rss_mb"] for _, p in points])
        fd_slope = slope(xs, [float(p["fds"] or 0) for _, p in points])
        pids = sorted({p["pid"] for p in every})
        flat = (
            rss_slope is not None
            and rss_slope <= FLAT_MB_PER_MIN
            and (fd_slope is None or fd_slope <= FLAT_FDS_PER_MIN)
            and len(pids) == 1
        )
        per_process[key] = {
            "pids": pids,
            "rss_before_soak_mb": before["rss_mb"] if before else None,
            "rss_first_mb": every[0]["rss_mb"] if every else None,
            "rss_last_mb": every[-1]["rss_mb"] if every else None,
            "rss_max_mb": max((p["rss_mb"] for p in every), default=None),
            "pss_first_mb": every[0].get("pss_mb") if every else None,
            "pss_last_mb": every[-1].get("pss_mb") if every else None,
            "rss_slope_mb_per_min": rss_slope,
            "rss_growth_per_day_mb": rss_slope * 1440 if rss_slope is not None else None,
            "fds_before_soak": before["fds"] if before else None,
            "fds_first": every[0]["fds"] if every else None,
            "fds_last": every[-1]["fds"] if every else None,
            "fds_max": max((p["fds"] or 0 for p in every), default=None),
            "fds_slope_per_min": fd_slope,
            "threads_last": every[-1].get("threads") if every else None,
            "flat": flat,
        }
    p99 = [w["p99_ms"] for w in windows if w.get("ok")]
    errors: dict[str, int] = {}
    for w in windows:
        for status, count in w.get("statuses", {}).items():
            if status not in ("OK", "SKIPPED"):
                errors[status] = errors.get(status, 0) + count
    report["verdict"] = {
        "fit": f"least squares over windows {fit[0]['window']}..{fit[-1]['window']}" if fit else "no windows",
        "threshold_mb_per_min": FLAT_MB_PER_MIN,
        "threshold_fds_per_min": FLAT_FDS_PER_MIN,
        "memory_flat": bool(per_process) and all(p["flat"] for p in per_process.values()),
        "processes": per_process,
        "p99_ms_min": min(p99, default=None),
        "p99_ms_median": statistics.median(p99) if p99 else None,
        "p99_ms_max": max(p99, default=None),
        "p50_ms_median": statistics.median([w["p50_ms"] for w in windows if w.get("ok")] or [0.0]),
        "sent": sum(w.get("sent", 0) for w in windows),
        "ok": sum(w.get("ok", 0) for w in windows),
        "errors_by_status": dict(sorted(errors.items())),
        "no_material": sum(w.get("no_material", 0) for w in windows),
        "unexpected": sum(sum(w.get("unexpected", {}).values()) for w in windows),
        "loadavg_1m_min": min((w["loadavg"][0] for w in windows), default=None),
        "loadavg_1m_max": max((w["loadavg"][0] for w in windows), default=None),
    }


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(report: dict[str, Any], png_name: str | None) -> str:
    v = report["verdict"]
    m = report["machine"]
    cap = report.get("capacity_rps")
    lines = [
        f"# bhytgate soak — {report['date']}{' (' + report['label'] + ')' if report.get('label') else ''}",
        "",
        f"Machine: {machine_line(m)}, {report['dlib_build']},"
        f" git {m.get('git')}. Server: `{report.get('server', {}).get('command')}` (SQLite in its own home),"
        f" {report['workers']} face workers, queue limit {report['queue_limit']}, deadline"
        f" {report['deadline_s']} s, {report['channels']} TLS connections. Load average at start"
        f" {_f(report['loadavg_start'][0], 2)}, at the end {_f(report['loadavg_end'][0], 2)}.",
        "",
        "## Summary",
        "",
        "| figure | value |",
        "|---|---|",
        f"| capacity (closed-loop probe right before the soak) | {_f(cap, 2)} checks/s |",
        f"| offered | {_f(report.get('rate_rps'), 2)} checks/s"
        + (f" ({report['fraction']:.0%} of capacity)" if cap else " (--rate)")
        + f" for {report['minutes']:g} min, samples every {report['interval_s']:g} s |",
        f"| checks sent / answered OK | {v['sent']} / {v['ok']} |",
        f"| errors by status | {json.dumps(v['errors_by_status']) if v['errors_by_status'] else 'none'} |",
        f"| genuine holders not accepted | {v['unexpected']} |",
        f"| checks the generator had not rendered in time | {v['no_material']} |",
        f"| p50 per window (median) | {_f(v['p50_ms_median'])} ms |",
        f"| p99 per window: min / median / max | {_f(v['p99_ms_min'])} / {_f(v['p99_ms_median'])} /"
        f" {_f(v['p99_ms_max'])} ms |",
        f"| machine load average (1 min) over the soak | {_f(v['loadavg_1m_min'], 2)} .."
        f" {_f(v['loadavg_1m_max'], 2)} on {m.get('cores')} cores |",
        f"| memory flat ({v['fit']}, <= {v['threshold_mb_per_min']} MB/min per process) |"
        f" {'**yes**' if v['memory_flat'] else '**no**'} |",
    ]
    stop = report.get("shutdown") or {}
    if stop:
        lines.append(
            f"| SIGTERM after the soak | exit {stop.get('exit_code')} in {_f(stop.get('stop_s'), 2)} s,"
            f" {stop.get('survivors_after_2s')} processes of the tree left after 2 s,"
            f" {stop.get('server_log_tracebacks')} tracebacks in the server log |"
        )
    lines += ["", "## Memory and file descriptors per process", ""]
    lines.append(
        _row(
            [
                "process",
                "pid",
                "RSS before soak",
                "RSS first window",
                "RSS last window",
                "RSS max",
                "slope (fit)",
                "per day at that slope",
                "PSS first → last",
                "fds first → last (max)",
                "flat",
            ]
        )
    )
    lines.append(_row(["---"] * 11))
    for key, p in v["processes"].items():
        lines.append(
            _row(
                [
                    key,
                    ",".join(str(x) for x in p["pids"]),
                    f"{_f(p['rss_before_soak_mb'])} MB",
                    f"{_f(p['rss_first_mb'])} MB",
                    f"{_f(p['rss_last_mb'])} MB",
                    f"{_f(p['rss_max_mb'])} MB",
                    f"{_f(p['rss_slope_mb_per_min'], 3)} MB/min",
                    f"{_f(p['rss_growth_per_day_mb'], 0)} MB",
                    f"{_f(p['pss_first_mb'])} → {_f(p['pss_last_mb'])} MB",
                    f"{p['fds_first']} → {p['fds_last']} ({p['fds_max']})",
                    "yes" if p["flat"] else "**no**",
                ]
            )
        )
    keys = list(v["processes"])
    lines += ["", "## Per window", ""]
    header = ["window", "load 1m", "machine busy", "sent", "OK", "p50", "p99", "max", "not OK"]
    header += [f"{k} RSS/fds" for k in keys] + ["db MB"]
    lines += [_row(header), _row(["---"] * len(header))]
    for w in report.get("windows", []):
        bad = {k: c for k, c in w.get("statuses", {}).items() if k not in ("OK",)}
        cells = [
            str(w["window"]),
            _f(w["loadavg"][0], 2),
            _f(w.get("machine_cores_busy"), 2),
            str(w.get("sent")),
            str(w.get("ok")),
            _f(w.get("p50_ms"), 0),
            _f(w.get("p99_ms"), 0),
            _f(w.get("max_ms"), 0),
            ", ".join(f"{k}: {c}" for k, c in bad.items()) or "-",
        ]
        for key in keys:
            p = w["processes"].get(key)
            cells.append(f"{p['rss_mb']:.1f}/{p['fds']}" if p else "gone")
        cells.append(_f(w.get("db_mb"), 1))
        lines.append(_row(cells))
    if png_name:
        lines += ["", f"![soak curves]({png_name})"]
    if report.get("notes"):
        lines += ["", "## Notes", "", *(f"- {n}" for n in report["notes"])]
    lines += [
        "",
        "Method: `benchmarks/load/soak.py`. Latency is measured from each check's intended (Poisson) send"
        " time, so a stalled server shows as latency, not as fewer checks; a window's latency belongs to the"
        " checks intended in it. RSS, PSS and fds from /proc at the end of each window.",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = report.get("windows", [])
    x = [w["t_s"] / 60.0 for w in windows]
    fig, (mem, lat, fds) = plt.subplots(1, 3, figsize=(15, 4.6))
    for key in report["verdict"]["processes"]:
        ys = [w["processes"].get(key, {}).get("rss_mb") for w in windows]
        mem.plot(x, [y if y is not None else float("nan") for y in ys], marker=".", label=key)
    mem.set_xlabel("minutes into the soak")
    mem.set_ylabel("RSS (MB)")
    mem.set_title("resident memory per process")
    mem.legend(fontsize=7)
    mem.grid(True, alpha=0.3)
    lat.plot(x, [w.get("p50_ms", 0) for w in windows], marker=".", label="p50")
    lat.plot(x, [w.get("p99_ms", 0) for w in windows], marker=".", label="p99")
    lat.set_xlabel("minutes into the soak")
    lat.set_ylabel("ms from intended send")
    lat.set_title(f"latency at {report.get('rate_rps', 0):.2f} checks/s")
    load = lat.twinx()
    load.plot(x, [w["loadavg"][0] for w in windows], color="grey", linestyle=":", label="load avg 1m")
    load.set_ylabel("machine load average (1 min)")
    lat.legend(fontsize=7, loc="upper left")
    load.legend(fontsize=7, loc="upper right")
    lat.grid(True, alpha=0.3)
    for key in report["verdict"]["processes"]:
        ys = [w["processes"].get(key, {}).get("fds") for w in windows]
        fds.plot(x, [y if y is not None else float("nan") for y in ys], marker=".", label=key)
    fds.set_xlabel("minutes into the soak")
    fds.set_ylabel("open file descriptors")
    fds.set_title("open fds per process")
    fds.legend(fontsize=7)
    fds.grid(True, alpha=0.3)
    fig.suptitle(f"bhytgate soak {report['date'][:16]} — {report['machine'].get('cpu')}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stem(report: dict[str, Any]) -> str:
    date = str(report["date"])[:10]
    machine = str(report["machine"].get("hostname_kind", "machine"))
    return f"{date}-{machine}-soak" + (f"-{report['label']}" if report.get("label") else "")


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    name = stem(report)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md", "png": out / f"{name}.png"}
    try:
        plot(report, paths["png"])
    except Exception as exc:  # the numbers matter more than the picture
        report.setdefault("notes", []).append(f"plot failed: {exc!r}")
        paths.pop("png")
    paths["json"].write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(report, paths["png"].name if "png" in paths else None), encoding="utf-8")
    return paths

"""Verdicts and outputs (JSON + Markdown) of the replica matrix (`benchmarks.load.cluster`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_line

CLUSTER_REQUIRED = ("machine", "dlib_build", "floor_ms", "configurations")


def _step(config: dict[str, Any], level: float) -> dict[str, Any] | None:
    steps: list[dict[str, Any]] = config.get("steps", [])
    for s in steps:
        if s.get("level") is not None and abs(s["level"] - level) < 1e-6:
            return s
    return None


def _config(report: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in report.get("configurations", []) if c["name"] == name), None)


def _db_check(step: dict[str, Any] | None) -> dict[str, Any] | None:
    if step is None:
        return None
    db = step.get("server", {}).get("db")
    return None if db is None else dict(db["per_check"])


def cpu_per_check(step: dict[str, Any] | None) -> dict[str, float | None]:
    """CPU ms per call sent, by process class, and the gateway's total (what a deployment pays:
    server main processes, face workers, PostgreSQL backends and its shared writers; not the load
    generator or the simulated chips)."""
    if step is None:
        return {}
    per = dict(step["server"]["cpu_ms_per_check"])
    keys = ("server_main", "face_workers", "postgres", "postgres_shared")
    per["gateway_total"] = sum(float(per.get(k) or 0.0) for k in keys)
    return per


def cpu_bound_capacity(config: dict[str, Any], cores: int) -> float | None:
    """Checks/s the machine's cores would give if nothing else ran: cores / (CPU per check of
    everything the run itself needs: gateway, PostgreSQL, generator, chips), at the capacity probe.
    An estimate, robust to other jobs on a shared machine where the probe's own figure is not."""
    probe = config.get("capacity_probe")
    if probe is None:
        return None
    per = cpu_per_check(probe)
    total = (
        float(per["gateway_total"] or 0.0)
        + float(per.get("generator") or 0.0)
        + float(per.get("chip") or 0.0)
    )
    return cores * 1000.0 / total if total > 0 else None


def summary(config: dict[str, Any], sqlite_capacity: float | None) -> dict[str, Any]:
    at50, at70 = _step(config, 0.5), _step(config, 0.7)
    capacity = config.get("capacity_rps")
    db50 = _db_check(at50)
    db_probe = _db_check(config.get("capacity_probe"))
    totals = config.get("pg_totals", {})
    per_pg = totals.get("per_answered_check", {})

    def from_step(step: dict[str, Any] | None, key: str) -> float | None:
        return None if step is None else float(step[key])

    def db_mean(step: dict[str, Any] | None) -> dict[str, float | None]:
        """Every statement of the step (shed attempts, the sweep, connection set-up included) per
        answered check."""
        if step is None or "db" not in step.get("server", {}):
            return {"statements": None, "ms": None, "transactions": None}
        db, n = step["server"]["db"], max(1, step["samples"])
        return {
            "statements": db["statements"] / n,
            "ms": db["ms"] / n,
            "transactions": db["transactions"] / n,
        }

    return {
        "name": config["name"],
        "engine": config["engine"],
        "replicas": config["replicas"],
        "workers_per_replica": config["workers_per_replica"],
        "capacity_rps": capacity,
        "capacity_vs_sqlite": (capacity / sqlite_capacity) if capacity and sqlite_capacity else None,
        "p50_at_50_ms": from_step(at50, "p50_ms"),
        "p99_at_50_ms": from_step(at50, "p99_ms"),
        "p99_at_70_ms": from_step(at70, "p99_ms"),
        "samples_at_50": None if at50 is None else at50["samples"],
        "samples_at_70": None if at70 is None else at70["samples"],
        "shed_at_50": from_step(at50, "shed_fraction"),
        "shed_at_70": from_step(at70, "shed_fraction"),
        "errors": {
            k: v
            for s in [*config.get("steps", []), config.get("capacity_probe") or {"errors_by_status": {}}]
            for k, v in s["errors_by_status"].items()
            if k != "RESOURCE_EXHAUSTED"
        },
        "db_ms_per_check_p50_at_50": None if db50 is None else db50["ms"]["p50"],
        "db_ms_per_check_p90_at_50": None if db50 is None else db50["ms"]["p90"],
        "db_ms_per_check_p99_at_50": None if db50 is None else db50["ms"]["p99"],
        "db_ms_per_check_p50_probe": None if db_probe is None else db_probe["ms"]["p50"],
        "db_thread_ms_per_check_p50_at_50": None if db50 is None else db50["ms_in_threads"]["p50"],
        "statements_per_check_p50": None if db50 is None else db50["statements"]["p50"],
        "statements_per_check_mean": None if db50 is None else db50["statements"]["mean"],
        "transactions_per_check_p50": None if db50 is None else db50["transactions"]["p50"],
        "db_all_per_answered_check_at_50": db_mean(at50),
        "pg_xact_per_check": per_pg.get("xact_commit"),
        "pg_active_ms_per_check": per_pg.get("active_time"),
        "pg_wal_bytes_per_check": per_pg.get("wal_bytes"),
        "pg_rows_written_per_check": (
            sum(per_pg.get(k, 0.0) for k in ("tup_inserted", "tup_updated", "tup_deleted"))
            if per_pg
            else None
        ),
        "cpu_ms_per_check_probe": cpu_per_check(config.get("capacity_probe")),
        "cpu_ms_per_check_at_50": cpu_per_check(at50),
        "other_processes_cores_probe": (config.get("capacity_probe") or {})
        .get("server", {})
        .get("other_processes_cores_busy"),
        "loadavg_1m_probe": (config.get("capacity_probe") or {}).get("server", {}).get("loadavg_1m"),
    }


def add_verdicts(report: dict[str, Any]) -> None:
    sqlite = _config(report, "sqlite")
    sqlite_capacity = None if sqlite is None else sqlite.get("capacity_rps")
    report["summary"] = [summary(c, sqlite_capacity) for c in report.get("configurations", [])]
    cores = int(report.get("machine", {}).get("cores") or 2)
    estimates = {c["name"]: cpu_bound_capacity(c, cores) for c in report.get("configurations", [])}
    for s in report["summary"]:
        s["cpu_bound_capacity_rps"] = estimates.get(s["name"])
        base = estimates.get("sqlite")
        s["cpu_bound_vs_sqlite"] = (
            s["cpu_bound_capacity_rps"] / base if base and s["cpu_bound_capacity_rps"] else None
        )
    targets: list[dict[str, Any]] = []
    one = next((s for s in report["summary"] if s["name"] == "postgres-1"), None)
    ratio = None if one is None else one["capacity_vs_sqlite"]
    targets.append(
        {
            "target": "1 PostgreSQL replica vs the SQLite process, capacity",
            "goal": ">= 0.90",
            "measured": ratio,
            "met": None if ratio is None else ratio >= 0.90,
        }
    )
    for s in report["summary"]:
        if s["engine"] != "postgres" or s["name"].endswith("-nosync"):
            continue  # the -nosync variant is a measurement aid, not a configuration to ship
        value = s["db_ms_per_check_p50_at_50"]
        targets.append(
            {
                "target": f"{s['name']}: database time per check, median (at 50% load)",
                "goal": "<= 5 ms",
                "measured": value,
                "met": None if value is None else value <= 5.0,
            }
        )
    for name, floor in floors(report):
        db = floor.get("db", {}).get("per_check")
        if not db or not name.startswith("PostgreSQL") or "nosync" in name:
            continue
        value = db["ms"]["p50"]
        targets.append(
            {
                "target": f"database time per check, median, {name} (one check at a time, no load)",
                "goal": "<= 5 ms",
                "measured": value,
                "met": value <= 5.0,
            }
        )
    report["targets"] = targets


def floors(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    if report.get("floor"):
        out.append(("SQLite", report["floor"]))
    for c in report.get("configurations", []):
        if c.get("floor"):
            out.append((f"PostgreSQL ({c['name']}'s database)", c["floor"]))
    return out


def check_report(report: dict[str, Any]) -> list[str]:
    problems = [f"missing {k}" for k in CLUSTER_REQUIRED if k not in report]
    for config in report.get("configurations", []):
        cap = config.get("capacity_rps")
        if not isinstance(cap, int | float) or not math.isfinite(cap) or cap <= 0:
            problems.append(f"{config['name']}: capacity_rps = {cap!r}")
        if not config.get("steps"):
            problems.append(f"{config['name']}: no steps")
    if not report.get("configurations"):
        problems.append("no configurations measured")
    return problems


def stem(report: dict[str, Any]) -> str:
    date = str(report["date"])[:10]
    machine = str(report["machine"].get("hostname_kind", "machine"))
    suffix = "" if report.get("mode") == "full" else f"-{report.get('mode')}"
    return f"{date}-cluster-{machine}{suffix}"


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    la0, la1 = report.get("loadavg_start") or [0, 0, 0], report.get("loadavg_end") or [0, 0, 0]
    lines = [
        f"# bhytgate replica benchmark — {report['date']} ({report['mode']})",
        "",
        f"Machine: {machine_line(m)}, "
        f"{report['dlib_build']}, git {m.get('git')}. PostgreSQL at {report.get('database_server')}. "
        f"Elapsed {report.get('elapsed_s', 0):.0f} s; {report['duration_per_step_s']} s per step, "
        f"{report['probe_s']} s capacity probe, {report['channels']} TLS channels (round robin over "
        "the replicas for the PostgreSQL configurations).",
        "",
        f"Face workers: {report['workers_rule']}. Admission queue limit {report['queue_limit']} per process.",
        "",
        f"PostgreSQL settings: {json.dumps(report.get('postgres_settings', {}))}. Tracked files modified in "
        f"the working tree at the time of the run (measured as they were): "
        f"{', '.join(report.get('modified_files') or []) or 'none'}.",
        "",
        f"Load average (1/5/15 min) at start {la0[0]:.2f} / {la0[1]:.2f} / {la0[2]:.2f}, at end "
        f"{la1[0]:.2f} / {la1[1]:.2f} / {la1[2]:.2f}. Other jobs (test suites) may have run on the "
        "machine at the same time; each step records the CPU that other processes used "
        '("other cores" below).',
        "",
    ]
    if report.get("mode") != "full":
        lines += [
            f"**{report['mode']} run: short steps, few samples per step; indicative only.**",
            "",
        ]
    lines += [
        "## Summary",
        "",
        "| configuration | workers | capacity/s | vs SQLite | p50 / p99 at 50% (ms) | p99 at 70% (ms) "
        "| shed 50% / 70% | DB ms/check p50 (p90) [threads only] | statements/check p50 (mean) "
        "| tx/check p50 "
        "| PG xact/check | PG active ms/check | other cores (probe) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report.get("summary", []):
        lines.append(
            f"| {s['name']} | {s['replicas']} × {s['workers_per_replica']} | {_f(s['capacity_rps'], 2)} "
            f"| {_f(s['capacity_vs_sqlite'], 3)} | {_f(s['p50_at_50_ms'], 0)} / {_f(s['p99_at_50_ms'], 0)} "
            f"(n={s['samples_at_50']}) | {_f(s['p99_at_70_ms'], 0)} (n={s['samples_at_70']}) "
            f"| {_pct(s['shed_at_50'])} / {_pct(s['shed_at_70'])} "
            f"| {_f(s['db_ms_per_check_p50_at_50'], 2)} ({_f(s['db_ms_per_check_p90_at_50'], 2)}) "
            f"[{_f(s['db_thread_ms_per_check_p50_at_50'], 2)}] "
            f"| {_f(s['statements_per_check_p50'], 0)} ({_f(s['statements_per_check_mean'], 1)}) "
            f"| {_f(s['transactions_per_check_p50'], 0)} | {_f(s['pg_xact_per_check'], 1)} "
            f"| {_f(s['pg_active_ms_per_check'], 2)} | {_f(s['other_processes_cores_probe'], 2)} |"
        )
    lines += [
        "",
        "DB ms/check: the wall time of every statement a check (its Begin and its Verify, joined across "
        "replicas by challenge id) sent, as the gateway saw it (round trip, PostgreSQL's work, commit, "
        "GIL wait), at the 50% step; [threads only]: without the document lock's statements, which run "
        "on the event loop and whose time includes waiting for the loop; statements include BEGIN and "
        "COMMIT; tx = transactions (explicit BEGIN, or an autocommit statement). PG xact and active ms: "
        "PostgreSQL's own pg_stat_database "
        "counters for the bench database over the whole configuration, per answered check.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for t in report.get("targets", []):
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {t['goal']} | {_f(t['measured'], 3)} | {met} |")
    lines += [
        "",
        'Capacity from CPU per check (the machine is shared: "other cores" above is what other jobs '
        "took during each probe). cores / (CPU per check of the gateway, PostgreSQL, generator and chips "
        "at the probe): an estimate of the capacity with the cores to ourselves.",
        "",
        "| configuration | CPU-bound estimate /s | vs SQLite's estimate | measured /s "
        "| other cores (probe) |",
        "|---|---|---|---|---|",
    ]
    for s in report.get("summary", []):
        lines.append(
            f"| {s['name']} | {_f(s.get('cpu_bound_capacity_rps'), 2)} "
            f"| {_f(s.get('cpu_bound_vs_sqlite'), 3)} "
            f"| {_f(s['capacity_rps'], 2)} | {_f(s['other_processes_cores_probe'], 2)} |"
        )
    lines += ["", "## In-process floor: time and database work per check, one check at a time", ""]
    lines += [
        "| engine | checks | median ms (mean) | by kind, median ms | DB ms/check p50 / p90 / mean "
        "| statements/check p50 (mean) | tx/check p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, floor in floors(report):
        db = floor.get("db", {}).get("per_check") or {}
        kinds = ", ".join(f"{k} {v['p50']:.0f}" for k, v in floor.get("by_kind", {}).items())
        ms, st, tx = db.get("ms", {}), db.get("statements", {}), db.get("transactions", {})
        count = sum(v["count"] for v in floor.get("by_kind", {}).values())
        lines.append(
            f"| {name} | {count} "
            f"| {_f(floor.get('median_ms'))} ({_f(floor.get('mean'))}) | {kinds} "
            f"| {_f(ms.get('p50'), 2)} / {_f(ms.get('p90'), 2)} / {_f(ms.get('mean'), 2)} "
            f"| {_f(st.get('p50'), 0)} ({_f(st.get('mean'), 1)}) | {_f(tx.get('p50'), 0)} |"
        )
    lines += [
        "",
        "Database work by outcome (in-process floor; frames sent and the gateway's decision):",
        "",
        "| engine | outcome | checks | DB ms p50 | statements p50 | tx p50 |",
        "|---|---|---|---|---|---|",
    ]
    for name, floor in floors(report):
        by = (floor.get("db", {}).get("per_check") or {}).get("by_outcome", {})
        for outcome, v in by.items():
            lines.append(
                f"| {name} | {outcome} | {v['checks']} | {v['ms']['p50']:.2f} | {v['statements']['p50']:.0f} "
                f"| {v['transactions']['p50']:.0f} |"
            )
    lines += [
        "",
        "## CPU per check (ms of CPU per call sent), by process class",
        "",
        "| configuration | step | server main | face workers | PostgreSQL backends | PG shared writers "
        "| gateway total | generator | chip process | other cores |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in report.get("configurations", []):
        for step in [config.get("capacity_probe"), *config.get("steps", [])]:
            if step is None:
                continue
            c = cpu_per_check(step)
            level = "probe" if step.get("level") is None else f"{step['level']:.0%}"
            lines.append(
                f"| {config['name']} | {level} | {_f(c.get('server_main'))} | {_f(c.get('face_workers'))} "
                f"| {_f(c.get('postgres'))} | {_f(c.get('postgres_shared'))} | {_f(c.get('gateway_total'))} "
                f"| {_f(c.get('generator'))} | {_f(c.get('chip'))} "
                f"| {_f(step['server'].get('other_processes_cores_busy'), 2)} |"
            )
    lines += ["", "## Steps", ""]
    header = (
        "| configuration | level | offered/s | achieved/s | samples | p50 | p90 | p99 | max | shed | errors "
    )
    header += "| server DB stages mean / p99 (ms) | gen lag p99 |"
    lines += [header, "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for config in report.get("configurations", []):
        for step in [config.get("capacity_probe"), *config.get("steps", [])]:
            if step is None:
                continue
            errors = ", ".join(f"{k}: {v}" for k, v in step["errors_by_status"].items()) or "none"
            db = step["stages"].get("database") or {}
            level = "probe" if step.get("level") is None else f"{step['level']:.0%}"
            flag = " (generator-limited)" if step.get("generator_limited") else ""
            lines.append(
                f"| {config['name']} | {level} | {step['offered_actual_rps']:.2f} "
                f"| {step['achieved_rps']:.2f} "
                f"| {step['samples']} | {step['p50_ms']:.0f} | {step['p90_ms']:.0f} | {step['p99_ms']:.0f} "
                f"| {step['max_ms']:.0f} | {step['shed']} | {errors} "
                f"| {_f(db.get('mean'))} / {_f(db.get('p99'))} | {step['generator_lag_p99_ms']:.1f}{flag} |"
            )
    lines += ["", "## Statements (50% step, all replicas): the ten costliest", ""]
    for config in report.get("configurations", []):
        step = _step(config, 0.5)
        db = None if step is None else step["server"].get("db")
        if db is None:
            continue
        n = max(1, step["samples"]) if step else 1
        lines += [
            f"**{config['name']}** ({db['statements']:.0f} statements, {db['ms']:.0f} ms, "
            f"{db['transactions']:.0f} transactions for {n} answered checks)",
            "",
            "| statement | per check | ms per check | ms each |",
            "|---|---|---|---|",
        ]
        for row in db["by_statement"][:10]:
            text = row["statement"].replace("|", "\\|")
            lines.append(
                f"| `{text}` | {row['count'] / n:.2f} | {row['ms'] / n:.3f} "
                f"| {row['ms'] / max(1, row['count']):.3f} |"
            )
        lines.append("")
    pg = [c for c in report.get("configurations", []) if c.get("pg_totals")]
    if pg:
        lines += [
            "## PostgreSQL's own counters per answered check (whole configuration)",
            "",
            "| configuration | checks | xact_commit | rollback | tup_returned | tup_fetched | inserted "
            "| updated | deleted | active ms | idle-in-tx ms | WAL bytes* | WAL syncs* |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in pg:
            t = c["pg_totals"]["per_answered_check"]
            lines.append(
                f"| {c['name']} | {c['pg_totals']['checks_answered']} | {t['xact_commit']:.1f} "
                f"| {t['xact_rollback']:.2f} | {t['tup_returned']:.0f} | {t['tup_fetched']:.0f} "
                f"| {t['tup_inserted']:.1f} | {t['tup_updated']:.1f} | {t['tup_deleted']:.1f} "
                f"| {t['active_time']:.2f} | {t['idle_in_transaction_time']:.1f} | {t['wal_bytes']:.0f} "
                f"| {t['wal_sync']:.2f} |"
            )
        lines += [
            "",
            "\\* pg_stat_wal is server-wide: another database's activity at the same time is included. "
            "idle-in-tx: mostly the document lock's transaction, held open through the face work.",
            "",
        ]
    audit = report.get("audit_append")
    if audit:
        from benchmarks.audit_append import markdown_rows

        lines += [
            f"## Audit chain append ({audit['records_per_writer']} records per writer, one chain)",
            "",
            *markdown_rows(audit),
            "",
            f"PostgreSQL settings: {json.dumps(audit.get('postgres_settings', {}))}.",
            "",
        ]
    notes = report.get("notes", []) + [f"skipped {s}" for s in report.get("skipped", [])]
    notes += [f"(added after the run) {a}" for a in report.get("annotations_after_run", [])]
    for c in report.get("configurations", []):
        notes += [f"{c['name']}: {n}" for n in c.get("notes", [])]
        if c.get("server_log_tracebacks"):
            notes.append(f"{c['name']}: {c['server_log_tracebacks']} traceback(s) in the server logs")
    if notes:
        lines += ["Notes: " + "; ".join(notes), ""]
    return "\n".join(lines) + "\n"


def write_outputs(report: dict[str, Any], out: Path, name: str | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    base = name or stem(report)
    paths = {"json": out / f"{base}.json", "md": out / f"{base}.md"}
    paths["json"].write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(report), encoding="utf-8")
    return paths

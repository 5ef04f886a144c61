"""The campaign's Markdown report, from the summary the runner writes (WORKDIR/summary.json)."""

from __future__ import annotations

from typing import Any

from benchmarks.fuzz.targets import TARGETS

SLOW = "slow input"


def _replays(summary: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {e["file"]: e for e in summary.get("replay", {}).get(name, []) if "file" in e}


def _cold_cpu(entry: dict[str, Any] | None) -> float | None:
    if not entry:
        return None
    value = entry.get("first_cpu_s", entry.get("cpu_s"))
    return None if value is None else float(value)


def crash_kinds(summary: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(crashes, instrumentation-only slow inputs): a slow input counts only if it also takes over
    1 s of CPU replayed uninstrumented (instrumented Python runs several times slower)."""
    data = summary["targets"][name]
    replays = _replays(summary, name)
    real: dict[str, Any] = {}
    flagged: dict[str, Any] = {}
    for signature, crash in data.get("crashes", {}).items():
        if signature.startswith(SLOW):
            cold = [_cold_cpu(replays.get(f)) for f in crash.get("files", [])]
            if cold and all(c is not None and c < 1.0 for c in cold):
                flagged[signature] = crash
                continue
        real[signature] = crash
    return real, flagged


def _crash_count(summary: dict[str, Any], name: str) -> tuple[int, int]:
    """(crashing inputs, kinds) of a target; a worker that libFuzzer ended counts as one of each."""
    real, _ = crash_kinds(summary, name)
    deaths = len(summary["targets"][name].get("deaths", []))
    return int(sum(c["count"] for c in real.values())) + deaths, len(real) + deaths


def totals(summary: dict[str, Any]) -> dict[str, Any]:
    targets = summary["targets"].values()
    runs = sum(t.get("runs", 0) for t in targets)
    wall = sum(t.get("fuzz_wall_s", 0.0) for t in targets)
    cpu = sum(t.get("cpu_s", 0.0) for t in targets)
    counts = [_crash_count(summary, n) for n in summary["targets"]]
    return {
        "runs": runs,
        "fuzz_wall_s": wall,
        "cpu_s": cpu,
        "rate": runs / wall if wall else 0.0,
        "rate_cpu": runs / cpu if cpu else 0.0,
        "crashes": sum(c[0] for c in counts),
        "crash_kinds": sum(c[1] for c in counts),
        "campaign_wall_s": summary.get("wall_s", 0.0),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _replay_text(entry: dict[str, Any] | None) -> str:
    if not entry or "cpu_s" not in entry:
        return "–"
    cold = _cold_cpu(entry)
    return f"{_ms(cold or 0.0)} / {_ms(entry['cpu_s'])}"


def render(summary: dict[str, Any]) -> str:
    t = totals(summary)
    machine = summary.get("machine", {})
    engine = summary["engine"]
    names = list(summary["targets"])
    lines = [
        f"# Fuzzing campaign, {summary['date']}",
        "",
        f"Command: `{summary['command']}` (from the repository root, venv active). "
        f"Engine: **{engine}**"
        + (
            f" {summary.get('atheris') or ''} (libFuzzer built into the wheel; coverage = instrumented "
            "Python bytecode of the target's modules, not of C extensions)"
            if engine == "atheris"
            else " (coverage-less mutation loop; feedback: new outcome labels only)"
        )
        + f", structure-aware custom mutators (benchmarks/fuzz/mutators.py). {summary['jobs']} workers at "
        f"a time at nice {summary.get('nice', '?')}, on {machine.get('cpu', '?')} "
        f"({machine.get('cores', '?')} cores, shared with a running benchmark), "
        f"Python {machine.get('python', '?')}, git {machine.get('git', '?')}.",
        "",
        f"**Total: {t['runs']:,} inputs** in {t['fuzz_wall_s'] / 60:.1f} worker-minutes of fuzzing "
        f"({t['campaign_wall_s'] / 60:.1f} min wall-clock for the whole campaign, seeding and replay "
        f"included): **{t['rate']:,.0f} inputs/s** per worker over wall time, {t['rate_cpu']:,.0f} per "
        f"CPU-second. **Crashes: {t['crash_kinds']} kinds (exception type and place), "
        f"{t['crashes']:,} crashing inputs.**",
        "",
        "## Per target",
        "",
        "Inputs/s is per worker over its wall time (the workers were CPU-starved by the benchmark at "
        "times: compare the CPU column); cov/ft are libFuzzer's edge and feature counts over the "
        "instrumented Python at the end; corpus = inputs libFuzzer kept. Slowest = the input with the "
        "most CPU time while fuzzing (instrumented, several times slower than production), then the "
        "same input replayed uninstrumented in a fresh process: first run (cold) / best of 3.",
        "",
        "| target | inputs | fuzz time | inputs/s | CPU s | cov / ft / corpus | peak RSS "
        "| crashes (kinds / inputs) | slowest input (CPU, size) | replayed cold / warm |",
        "|---|---:|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    for name in names:
        data = summary["targets"][name]
        runs = data.get("runs", 0)
        wall = data.get("fuzz_wall_s", 0.0)
        cov = data.get("coverage")
        cov_text = f"{cov['cov']} / {cov['ft']} / {cov['corpus']}" if cov else "–"
        slow = data.get("slowest", {}).get("cpu", {})
        inputs, kinds = _crash_count(summary, name)
        lines.append(
            f"| {name} | {runs:,} | {wall:.0f} s | {runs / wall if wall else 0:,.0f} "
            f"| {data.get('cpu_s', 0):.0f} | {cov_text} | {data.get('peak_rss_mb', 0):.0f} MB "
            f"| {kinds} / {inputs:,} | {_ms(slow.get('cpu_s', 0.0))}, {slow.get('size', 0):,} B "
            f"| {_replay_text(_replays(summary, name).get(slow.get('file', '')))} |"
        )
    lines += [
        "",
        "## Slowest inputs",
        "",
        "By CPU and by wall time while fuzzing; wall minus CPU is time the worker waited for a core. "
        "`run` is when it came (the seeds run first, with cold caches and lazy imports).",
        "",
        "| target | by | CPU | wall | run | size | sha1 | replayed CPU cold / warm | outcome |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for name in names:
        data = summary["targets"][name]
        replays = _replays(summary, name)
        for kind, slow in sorted(data.get("slowest", {}).items()):
            if not slow.get("file"):
                continue
            replay = replays.get(slow["file"]) or {}
            lines.append(
                f"| {name} | {kind} | {_ms(slow['cpu_s'])} | {_ms(slow['wall_s'])} "
                f"| {slow.get('at_run', 0):,} | {slow['size']:,} | `{slow['sha1'][:12]}` "
                f"| {_replay_text(replay)} "
                f"| {replay.get('outcome', '–')} |"
            )
    lines += [
        "",
        "## Crashes",
        "",
        "One line per kind (exception type, innermost bhytgate frame), with the number of inputs and the "
        "smallest one kept (under the campaign's workdir).",
        "",
    ]
    any_crash = False
    for name in names:
        data = summary["targets"][name]
        real, flagged = crash_kinds(summary, name)
        for signature, crash in sorted(real.items(), key=lambda kv: -kv[1]["count"]):
            any_crash = True
            smallest = str(crash.get("smallest") or "").split("/crashes/")[-1]
            lines.append(
                f"- **{name}**: `{signature}` — {crash['count']:,} inputs; smallest "
                f"{crash.get('smallest_size', 0):,} B `crashes/{smallest}`"
            )
        for signature, crash in flagged.items():
            replays = _replays(summary, name)
            cold = [_cold_cpu(replays.get(f)) for f in crash.get("files", [])]
            lines.append(
                f"- {name}: {signature} while instrumented ({crash['detail']}), but "
                f"{', '.join(_ms(c or 0.0) for c in cold)} replayed uninstrumented: not counted"
            )
        for death in data.get("deaths", []):
            any_crash = True
            lines.append(
                f"- **{name}**: worker ended with exit status {death['rc']} after {death['after_s']:.0f} s "
                f"(libFuzzer: {'; '.join(death['log']) or '?'}; artifacts {death['artifacts']})"
            )
    if not any_crash:
        lines.append(
            "None: no input raised anything but its target's typed error, none took over 1 s of CPU, "
            "no worker passed the 2048 MB RSS limit or the 30 s hang timeout."
        )
    lines += [
        "",
        "## Targets and what counts as a crash",
        "",
        "For every target a crash is: any exception other than the typed errors listed; an input taking "
        "more than 1 s of CPU (thread CPU time, so a worker waiting for a core does not count; confirmed "
        "by an uninstrumented replay); a hang past libFuzzer's 30 s timeout; the process passing "
        "2048 MB RSS (libFuzzer's -rss_limit_mb: unbounded memory). Crashing inputs are kept and the "
        "fuzzing goes on.",
        "",
        "| target | seeds | what one input goes through | typed errors (not crashes) |",
        "|---|---:|---|---|",
    ]
    for name in names:
        target = TARGETS.get(name)
        if target is not None:
            lines.append(
                f"| {name} | {summary['targets'][name].get('seeds', 0)} | {target.calls} | {target.typed} |"
            )
    lines += [
        "",
        "## What the inputs reached",
        "",
        "The most frequent outcomes per target (the typed error's reason, or what succeeded), to show "
        "that the mutations get past the outer checks:",
        "",
    ]
    for name in names:
        outcomes = summary["targets"][name].get("outcomes", {})
        runs = max(1, sum(outcomes.values()))
        top = sorted(outcomes.items(), key=lambda kv: -kv[1])[:6]
        lines.append(f"- **{name}**: " + ", ".join(f"{k} {v / runs:.1%}" for k, v in top))
    notes = summary.get("notes")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"

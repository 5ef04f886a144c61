"""The processes of a server's tree and what each holds, from /proc (Linux): for the soak."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .generator import cpu_seconds


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _ppid(pid: int) -> int | None:
    stat = read_text(f"/proc/{pid}/stat")
    if stat is None:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None


def tree(root: int) -> list[int]:
    """`root` and every descendant, from the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            parent = _ppid(int(name))
            if parent is not None:
                children.setdefault(parent, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if read_text(f"/proc/{pid}/stat") is None:
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)


def role(pid: int, root: int) -> str:
    if pid == root:
        return "server"
    cmdline = (read_text(f"/proc/{pid}/cmdline") or "").replace("\0", " ")
    if "resource_tracker" in cmdline:
        return "resource_tracker"
    if "multiprocessing" in cmdline or "spawn_main" in cmdline or "forkserver" in cmdline:
        return "face_worker"
    return "other"


def _kb_fields(text: str | None, names: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[key] = float(value.split()[0]) / 1024.0  # kB -> MB
    return out


def process_sample(pid: int) -> dict[str, Any] | None:
    """RSS, PSS, private memory (MB), open fds and CPU seconds of one process; None if it is gone."""
    status = _kb_fields(read_text(f"/proc/{pid}/status"), ("VmRSS", "VmHWM", "RssAnon", "RssFile"))
    if "VmRSS" not in status:
        return None
    rollup = _kb_fields(read_text(f"/proc/{pid}/smaps_rollup"), ("Pss", "Private_Clean", "Private_Dirty"))
    try:
        fds: int | None = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = None
    threads = next(
        (
            int(line.split()[1])
            for line in (read_text(f"/proc/{pid}/status") or "").splitlines()
            if line.startswith("Threads:")
        ),
        None,
    )
    return {
        "pid": pid,
        "rss_mb": status["VmRSS"],
        "hwm_mb": status.get("VmHWM"),
        "rss_anon_mb": status.get("RssAnon"),
        "pss_mb": rollup.get("Pss"),
        "private_mb": (rollup["Private_Clean"] + rollup["Private_Dirty"])
        if "Private_Dirty" in rollup
        else None,
        "fds": fds,
        "threads": threads,
        "cpu_s": cpu_seconds(pid),
    }


def tree_sample(root: int) -> dict[str, dict[str, Any]]:
    """Every process of the tree, keyed by role (face workers numbered in pid order)."""
    out: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for pid in tree(root):
        kind = role(pid, root)
        sample = process_sample(pid)
        if sample is None:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        key = (
            kind if kind in ("server", "resource_tracker") and counts[kind] == 1 else f"{kind}_{counts[kind]}"
        )
        out[key] = sample
    return out


def db_size_mb(home: Path) -> float:
    total = 0
    for path in home.glob("*.db*"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total / 1e6

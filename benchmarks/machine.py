"""What a benchmark ran on: recorded beside every result, since absolute times here are noisy."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from importlib import metadata
from typing import Any

from bhytgate_clients.machine import cpu_id, cpu_name


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def dlib_build() -> str:
    """Which dlib runs: the prebuilt wheel or a source build, and whether it uses BLAS."""
    try:
        import dlib

        blas = bool(getattr(dlib, "DLIB_USE_BLAS", False))
        version = str(dlib.__version__)
    except ImportError:
        return "not installed"
    wheel = _version("dlib-bin")
    origin = f"dlib-bin {wheel} (prebuilt wheel)" if wheel else f"dlib {_version('dlib')} (source build)"
    return f"{origin}, dlib {version}, BLAS={'on' if blas else 'off'}"


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded: recorded at a run's start and end."""
    return [round(x, 2) for x in os.getloadavg()]


def with_load_average(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()`'s report with `loadavg`: [at its start, at its end] (what else used the machine)."""
    start = load_average()
    report = run()
    report["loadavg"] = [start, load_average()]
    return report


def machine_line(m: dict[str, Any]) -> str:
    """The CPU, its generation and the core count as one phrase of a report's first line."""
    cpu_id = m.get("cpu_id") or "cpu id not recorded"
    return f"{m.get('cpu')} ({cpu_id}) × {m.get('cores')} cores, Python {m.get('python')}"


def machine_info() -> dict[str, Any]:
    return {
        "hostname_kind": os.environ.get("BHYTGATE_MACHINE", "python-svc"),
        "cpu": cpu_name(),
        "cpu_id": cpu_id(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git_revision(),
        "dlib": (_version("dlib-bin") and f"dlib-bin {_version('dlib-bin')} (prebuilt wheel)")
        or _version("dlib"),
        "cryptography": _version("cryptography"),
        "grpcio": _version("grpcio"),
    }

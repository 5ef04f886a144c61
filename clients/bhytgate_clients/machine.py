"""What machine a measurement ran on, for the reports that record it (face eval, benchmarks)."""

from __future__ import annotations

import platform

# /proc/cpuinfo fields that tell CPU generations apart where the model name does not: VMs of one
# kind here all say "AMD EPYC", and one with family 26 (Zen 5) ran the suite 2.3x faster than another.
_ID_FIELDS = ("cpu family", "model", "stepping", "cache size")


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what `platform` knows."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_id() -> str | None:
    """Family, model, stepping and cache size, with whether AVX-512 is there (the inference
    runtimes pick their kernels by it); None where /proc/cpuinfo is missing."""
    info = _cpuinfo()
    if not info:
        return None
    parts = [f"{k} {info[k]}" for k in _ID_FIELDS if k in info]
    flags = info.get("flags", "").split()
    parts.append("avx512f" if "avx512f" in flags else ("avx2" if "avx2" in flags else "no avx2"))
    return ", ".join(parts)

"""Fuzz one target in this process: `python -m benchmarks.fuzz.worker TARGET WORKDIR SECONDS [ENGINE]`.

ENGINE "atheris": libFuzzer, coverage-guided over the instrumented Python of the target's modules
(the target is imported inside `atheris.instrument_imports`), with the target's structure-aware
mutator as libFuzzer's custom mutator (it hands half of the mutations back to libFuzzer's own).
ENGINE "random": the same mutators in a coverage-less loop whose only feedback is a new outcome
label (used when atheris does not install).

Every input goes through `Stats.run`: a crash (any exception escaping the target's `one`) is kept
under `crashes/<target>/` and the fuzzing goes on; so is an input that takes more than 1 s of CPU.
The slowest inputs by CPU and by wall time are kept under `slowest/`. `stats/<target>.json` is
rewritten every few seconds and when the time is up (the worker then ends itself with os._exit,
before libFuzzer's own limit). A hang beyond libFuzzer's -timeout or an RSS over -rss_limit_mb
ends the process with a libFuzzer artifact under `artifacts/<target>/`; the runner reports it.

`--replay TARGET WORKDIR FILE...` runs saved inputs uninstrumented and prints their timings.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

SLOW_CPU_S = 1.0
HANG_TIMEOUT_S = 30
RSS_LIMIT_MB = 2048
MAX_LABELS = 300
KEEP_PER_SIGNATURE = 5


def _signature(exc: BaseException) -> tuple[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/bhytgate/" in f.filename]
    candidates = ours or list(frames)
    where = candidates[-1] if candidates else None
    place = (
        f"{where.filename.split('/site-packages/')[-1].split('/server/')[-1]}:{where.lineno}"
        if where
        else "?"
    )
    return f"{type(exc).__name__} at {place}", "".join(traceback.format_exception(exc))


class Stats:
    def __init__(self, target: str, workdir: Path, seconds: float) -> None:
        self.target = target
        self.path = workdir / "stats" / f"{target}.json"
        self.crash_dir = workdir / "crashes" / target
        self.slow_dir = workdir / "slowest" / target
        for folder in (self.path.parent, self.crash_dir, self.slow_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self.runs = 0
        self.bytes = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.crashes: dict[str, dict[str, Any]] = {}
        self.slowest: dict[str, dict[str, Any]] = {
            "cpu": {"cpu_s": 0.0, "wall_s": 0.0},
            "wall": {"cpu_s": 0.0, "wall_s": 0.0},
        }
        self.last_flush = 0.0
        self.previous: dict[str, Any] = {}
        if self.path.exists():  # a restarted worker (after a hang or OOM) adds to the earlier counts
            self.previous = json.loads(self.path.read_text(encoding="utf-8"))
            self.crashes = self.previous.get("crashes", {})
            self.slowest = self.previous.get("slowest", self.slowest)

    def run(self, one: Callable[[bytes], str | None], data: bytes) -> None:
        wall0 = time.perf_counter()
        cpu0 = time.thread_time()
        try:
            label = one(data)
        except Exception as exc:  # the definition of a crash: anything but the typed errors
            label = "CRASH"
            self._crash(data, *_signature(exc))
        cpu = time.thread_time() - cpu0
        now = time.perf_counter()
        wall = now - wall0
        self.runs += 1
        self.bytes += len(data)
        if label is not None and (label in self.outcomes or len(self.outcomes) < MAX_LABELS):
            self.outcomes[label] += 1
        if cpu > self.slowest["cpu"]["cpu_s"]:
            self._keep_slowest("cpu", data, cpu, wall)
        if wall > self.slowest["wall"]["wall_s"]:
            self._keep_slowest("wall", data, cpu, wall)
        if cpu > SLOW_CPU_S:
            self._crash(
                data, f"slow input: over {SLOW_CPU_S:.0f} s of CPU", f"{cpu:.3f} s CPU, {wall:.3f} s wall"
            )
        if now > self.deadline:
            self.finish()
        if now - self.last_flush > 3.0:
            self.flush()

    def _keep_slowest(self, kind: str, data: bytes, cpu: float, wall: float) -> None:
        path = self.slow_dir / f"slowest-{kind}.bin"
        path.write_bytes(data)
        self.slowest[kind] = {
            "cpu_s": cpu,
            "wall_s": wall,
            "size": len(data),
            "sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            "file": str(path),
            "at_run": self.runs + self.previous.get("runs", 0),
        }

    def _crash(self, data: bytes, signature: str, detail: str) -> None:
        entry = self.crashes.setdefault(
            signature, {"count": 0, "files": [], "detail": detail, "smallest": None}
        )
        entry["count"] += 1
        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if len(entry["files"]) < KEEP_PER_SIGNATURE or len(data) < entry.get("smallest_size", 1 << 60):
            path = self.crash_dir / f"{digest}.bin"
            path.write_bytes(data)
            (self.crash_dir / f"{digest}.txt").write_text(f"{signature}\n\n{detail}", encoding="utf-8")
            if len(entry["files"]) < KEEP_PER_SIGNATURE:
                entry["files"].append(str(path))
            if len(data) < entry.get("smallest_size", 1 << 60):
                entry["smallest"] = str(path)
                entry["smallest_size"] = len(data)
        if entry["count"] == 1:  # a new kind of crash is on disk at once; counts follow every 3 s
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        prev = self.previous
        data = {
            "target": self.target,
            "runs": self.runs + prev.get("runs", 0),
            "bytes": self.bytes + prev.get("bytes", 0),
            "fuzz_wall_s": self.last_flush - self.started + prev.get("fuzz_wall_s", 0.0),
            "cpu_s": usage.ru_utime + usage.ru_stime + prev.get("cpu_s", 0.0),
            "peak_rss_mb": max(usage.ru_maxrss / 1024, prev.get("peak_rss_mb", 0.0)),
            "outcomes": dict((collections.Counter(prev.get("outcomes", {})) + self.outcomes).most_common()),
            "crashes": self.crashes,
            "slowest": self.slowest,
            "restarts": prev.get("restarts", -1) + 1 if prev else 0,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(self.path)

    def finish(self) -> None:
        self.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _seeds(workdir: Path, target: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((workdir / "seeds" / target).iterdir())]


def build_mutator(target: Any, workdir: Path, byte_mutate: Callable[[bytes, int], bytes]) -> Any:
    from benchmarks.fuzz import mutators
    from benchmarks.fuzz.seeds import known_oids

    oids = known_oids()
    samples = _seeds(workdir, target.name)
    if target.mutator == "der":
        if target.name == "verify_chip":
            return mutators.Prefixed(
                mutators.DerMutator(byte_mutate, mutators.harvest([s[2:] for s in samples]), oids), 2
            )
        return mutators.DerMutator(byte_mutate, mutators.harvest(samples), oids)
    if target.mutator == "protobuf":
        chip = [p.read_bytes() for p in sorted((workdir / "seeds" / "sod").iterdir())]
        return mutators.ProtobufMutator(
            byte_mutate, mutators.DerMutator(byte_mutate, mutators.harvest(chip), oids)
        )
    if target.mutator == "image":
        return mutators.ImageMutator(byte_mutate)
    if target.mutator == "qr":
        return mutators.TextMutator(
            byte_mutate, "|", ("$", "|$", "Nam", "Nữ", "1", "2", "79 - 014", "01/01/2025")
        )
    from bhytgate.entitlement.validation import FIELD_NAMES

    if target.mutator == "csv":
        return mutators.TextMutator(
            byte_mutate, ",\n", (*FIELD_NAMES, '"a,b"', '"a""b"', "true", "2025-01-01")
        )
    return mutators.TextMutator(
        byte_mutate, ",\n:", (*(f'"{n}"' for n in FIELD_NAMES), "null", "{}", "[]", '"\\u0000"')
    )


def fuzz(target_name: str, workdir: Path, seconds: float, engine: str) -> None:
    from benchmarks.fuzz.targets import TARGETS

    target = TARGETS[target_name]
    warnings.simplefilter("ignore")
    stats = Stats(target_name, workdir, seconds)
    if engine == "atheris":
        import atheris  # type: ignore[import-untyped]

        with atheris.instrument_imports(include=list(target.instrument)):
            one = target.setup(workdir)
        # atheris.Mutate is rebound once Fuzz() runs: look it up at each call
        mutator = build_mutator(target, workdir, lambda data, size: atheris.Mutate(data, size))
        corpus = workdir / "corpus" / target_name
        corpus.mkdir(parents=True, exist_ok=True)
        artifacts = workdir / "artifacts" / target_name
        artifacts.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.argv[0],
            str(corpus),
            str(workdir / "seeds" / target_name),
            f"-max_len={target.max_len}",
            f"-max_total_time={int(seconds) + 120}",  # the worker ends itself first (Stats.finish)
            f"-timeout={HANG_TIMEOUT_S}",
            f"-rss_limit_mb={RSS_LIMIT_MB}",
            f"-artifact_prefix={artifacts}/",
            f"-seed={random.SystemRandom().randrange(1, 1 << 31)}",
            "-print_final_stats=1",
            "-reduce_inputs=1",
        ]
        dictionary = workdir / "dicts" / f"{target_name}.dict"
        if dictionary.exists():
            argv.append(f"-dict={dictionary}")
        atheris.Setup(argv, lambda data: stats.run(one, data), custom_mutator=mutator)
        atheris.Fuzz()
        return
    from benchmarks.fuzz.mutators import simple_byte_mutate

    one = target.setup(workdir)
    rng = random.Random()
    mutator = build_mutator(target, workdir, lambda data, size: simple_byte_mutate(data, size, rng))
    pool = _seeds(workdir, target_name)
    for data in pool:
        stats.run(one, data)
    while True:  # Stats.run ends the process at the deadline
        seen = len(stats.outcomes)
        data = mutator(rng.choice(pool), target.max_len, rng.randrange(1 << 30))
        stats.run(one, data)
        if len(stats.outcomes) > seen and len(pool) < 5000:
            pool.append(data)  # the only feedback without coverage: a new outcome


def _clear_caches() -> None:
    """Forget what parsers cached by the bytes, so that "cold" means cold for each replayed file."""
    try:
        from bhytgate.chip.crypto import x509
    except ImportError:
        return
    for name in ("_load_certificate_der", "_name_key_der"):
        cache_clear = getattr(getattr(x509, name, None), "cache_clear", None)
        if cache_clear is not None:
            cache_clear()


def replay(target_name: str, workdir: Path, files: list[Path], repeat: int = 3) -> list[dict[str, Any]]:
    """Run saved inputs uninstrumented: the first (cold: parsers such as load_certificate cache by
    the bytes) and the best of `repeat` timings, and the outcome of each."""
    from benchmarks.fuzz.targets import TARGETS

    warnings.simplefilter("ignore")
    one = TARGETS[target_name].setup(workdir)
    out = []
    for path in files:
        _clear_caches()
        data = path.read_bytes()
        best_cpu = best_wall = float("inf")
        first: tuple[float, float] | None = None
        outcome: str | None = None
        for _ in range(repeat):
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            try:
                outcome = one(data)
            except Exception as exc:
                outcome = "CRASH " + _signature(exc)[0]
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            first = first or (cpu, wall)
            best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
        out.append(
            {
                "file": str(path),
                "size": len(data),
                "first_cpu_s": first[0] if first else None,
                "first_wall_s": first[1] if first else None,
                "cpu_s": best_cpu,
                "wall_s": best_wall,
                "outcome": outcome,
            }
        )
    return out


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--replay":
        target, workdir, *files = argv[1:]
        print(json.dumps(replay(target, Path(workdir), [Path(f) for f in files]), indent=1))
        return 0
    target, workdir, seconds, *rest = argv
    fuzz(target, Path(workdir), float(seconds), rest[0] if rest else "atheris")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

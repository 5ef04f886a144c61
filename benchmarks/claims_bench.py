"""Claims reconciliation throughput and peak memory on a generated file (default 100,000 dossiers).

    python -m benchmarks.claims_bench [--dossiers 100000] [--gateway] [--out results/claims-*.json]

In-process (default): the file (benchmarks/claims_gen.py: XML1 + XML2 + XML3 per dossier, base64)
streams through `claims.service.Reconciliation` in 1 MiB chunks over a SQLite store holding verified
check-ins for 60% of the visits at the claimed facility and 10% at another (so the expected classes
are about 60% verified, 10% mismatch, 30% unverified). Peak RSS is the process's high-water mark
(VmHWM), reset just before the run (/proc/self/clear_refs), so it is the reconciliation's own.

--gateway: the same through the real path: a dev home, `bhytgate serve` in a subprocess (mTLS,
SQLite, one face worker), the check-ins written into its database, then `bhytgate claims reconcile
--json` in another subprocess; the server's main-process VmHWM (reset before the run) and the CLI's
peak RSS are reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.claims_gen import hoso, random_visits, write_claims

REPO = Path(__file__).resolve().parent.parent
# `bhytgate ...` that reports its own peak RSS (KiB) on stderr when it exits, whatever its status.
CLI_WITH_PEAK = """
import resource, runpy, sys
sys.argv = ["bhytgate"] + sys.argv[1:]
try:
    runpy.run_module("bhytgate_clients.cli", run_name="__main__")
finally:
    sys.stderr.write("MAXRSS %d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def hwm_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def reset_hwm(pid: int | str = "self") -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def generate(path: Path, dossiers: int, facility: str) -> float:
    start = time.perf_counter()
    with path.open("wb") as fh:
        write_claims(fh, facility, (hoso(v) for v in random_visits(dossiers, facility)), count=dossiers)
    return time.perf_counter() - start


def populate(store: object, audit_key: bytes, dossiers: int, facility: str) -> dict[str, int]:
    """Check-ins for 60% of the visits here, 10% elsewhere (a seeded choice per visit)."""
    from bhytgate.checkin.keys import CheckinKeys
    from bhytgate.storage.checkins import StoredCheckin

    keys = CheckinKeys(audit_key)
    rng = random.Random(7)
    counts = {"here": 0, "elsewhere": 0}
    for i, visit in enumerate(random_visits(dossiers, facility)):
        roll = rng.random()
        if roll >= 0.7:
            continue
        where = facility if roll < 0.6 else "79014"
        at = (visit.arrival - dt.timedelta(minutes=rng.randrange(5, 90))).astimezone(dt.UTC)
        row = StoredCheckin(
            f"{i:032x}",
            f"{i:064x}",
            where,
            "desk-01",
            at,
            "chip_face",
            keys.cccd(visit.cccd),
            keys.card(visit.card),
            None,
        )
        store.put_checkin(row, b"<x/>", at + dt.timedelta(days=7), at + dt.timedelta(days=400))  # type: ignore[attr-defined]
        counts["here" if where == facility else "elsewhere"] += 1
    return counts


def in_process(path: Path, dossiers: int, facility: str, work: Path) -> dict[str, object]:
    from bhytgate.checkin.keys import CheckinKeys
    from bhytgate.claims.service import Reconciliation
    from bhytgate.storage import SqliteStore

    audit_key = os.urandom(32)
    store = SqliteStore(work / "bench.db", template_key=os.urandom(32))
    t0 = time.perf_counter()
    seeded = populate(store, audit_key, dossiers, facility)
    populate_s = time.perf_counter() - t0
    job = Reconciliation(store, CheckinKeys(audit_key), window=dt.timedelta(hours=4))
    baseline = rss_kib()
    reset_hwm()
    start, cpu0 = time.perf_counter(), time.process_time()
    count = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += len(job.feed(chunk))
    count += len(job.close())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return {
        "mode": "in-process",
        "dossiers": count,
        "seeded_checkins": seeded,
        "populate_s": round(populate_s, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "dossiers_per_s": round(count / wall),
        "mb_per_s": round(path.stat().st_size / 1e6 / wall, 1),
        "rss_before_mib": round(baseline / 1024, 1),
        "peak_rss_mib": round(hwm_kib() / 1024, 1),
        "summary": job.summary.as_dict(),
    }


def through_gateway(path: Path, dossiers: int, facility: str, work: Path) -> dict[str, object]:
    """`bhytgate serve` and `bhytgate claims reconcile` as the operator runs them."""
    from bhytgate.service.config import load_config
    from bhytgate.storage import SqliteStore
    from bhytgate_clients.devsetup import ensure_dev_home

    home = work / "home"
    config = load_config(home, listen="127.0.0.1:0", workers=1)
    ensure_dev_home(config, REPO.parent / "shared" / "faces", log=lambda *_: None)
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bhytgate_clients.cli",
            "serve",
            "--home",
            str(home),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        info = home / "gateway.json"
        deadline = time.monotonic() + 300
        while not info.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bhytgate serve did not start")
            time.sleep(0.5)
        audit_key = (home / "keys" / "audit.key").read_bytes()
        template_key = (home / "keys" / "template.key").read_bytes()
        store = SqliteStore(home / "gateway.db", template_key=template_key)
        seeded = populate(store, audit_key, dossiers, facility)
        store.close()
        baseline = rss_kib(proc.pid)
        reset_hwm(proc.pid)
        out = work / "report.json"
        start = time.perf_counter()
        with out.open("wb") as fh:
            cli = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CLI_WITH_PEAK,
                    "claims",
                    "reconcile",
                    str(path),
                    "--json",
                    "--no-progress",
                    "--home",
                    str(home),
                ],
                env=env,
                stdout=fh,
                stderr=subprocess.PIPE,
                check=False,
            )
        wall = time.perf_counter() - start
        server_peak = hwm_kib(proc.pid)
        cli_rss = [
            int(line.split()[1]) for line in cli.stderr.decode().splitlines() if line.startswith("MAXRSS")
        ]
        report = json.loads(out.read_text(encoding="utf-8"))
        count = report["summary"]["dossiers"]
        return {
            "mode": "gateway (bhytgate serve + bhytgate claims reconcile --json, mTLS, SQLite)",
            "exit_status": cli.returncode,
            "dossiers": count,
            "seeded_checkins": seeded,
            "wall_s": round(wall, 2),
            "dossiers_per_s": round(count / wall),
            "mb_per_s": round(path.stat().st_size / 1e6 / wall, 1),
            "server_rss_before_mib": round(baseline / 1024, 1),
            "server_peak_rss_mib": round(server_peak / 1024, 1),
            "cli_peak_rss_mib": round(cli_rss[0] / 1024, 1) if cli_rss else None,
            "report_mb": round(out.stat().st_size / 1e6, 1),
            "summary": report["summary"],
        }
    finally:
        proc.terminate()
        proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims_bench", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--facility", default="01001")
    parser.add_argument("--gateway", action="store_true", help="through bhytgate serve and the CLI")
    parser.add_argument("--out", type=Path, help="write the result as JSON here too")
    ns = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bhytgate-claims-bench-") as tmp:
        work = Path(tmp)
        path = work / "claims.xml"
        gen_s = generate(path, ns.dossiers, ns.facility)
        run = through_gateway if ns.gateway else in_process
        result = run(path, ns.dossiers, ns.facility, work)
        result.update(
            file_mb=round(path.stat().st_size / 1e6, 1),
            generate_s=round(gen_s, 1),
            machine={
                "cpus": os.cpu_count(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "python": platform.python_version(),
            },
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if ns.out:
        ns.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

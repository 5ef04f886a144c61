"""CI smoke of the replica benchmark's parts (seconds, no gateway started): the audit append
benchmark against real PostgreSQL and SQLite, the per-check join of Begin and Verify across
replicas, the generator's channel to an address list, and the report from a minimal run.

Benchmarks are not timed tests: no rate or latency is asserted here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PG_SERVER = os.environ.get("BHYTGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def _pg_or_skip() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}: {type(exc).__name__}")


@pytest.mark.timeout(60)
def test_audit_append_keeps_one_chain_with_three_writers() -> None:
    _pg_or_skip()
    from benchmarks.audit_append import run

    report = run(PG_SERVER, writers=(3,), records=15, sqlite=True)
    assert [(r["engine"], r["writers"]) for r in report["results"]] == [("postgres", 3), ("sqlite", 3)]
    for r in report["results"]:
        assert r["errors"] == []
        assert r["appended"] == 45
        assert r["chain"]["ok"] and r["chain"]["length"] == 45
        assert r["appends_per_s"] > 0 and r["latency_ms"]["p99"] >= r["latency_ms"]["p50"] > 0


def test_per_check_joins_begin_and_verify_across_replicas() -> None:
    from benchmarks.load.dbstats import per_check

    # (rpc, challenge, ok, end time, statements, transactions, ms, ms from the loop, label)
    calls = [
        ["begin", "c1", True, 1.0, 3, 2, 1.5, 0.0, ""],  # replica A
        ["verify", "c1", True, 2.0, 40, 15, 20.0, 4.0, "4 frame(s) ACCEPTED"],  # replica B
        ["begin", "c2", True, 1.1, 3, 2, 1.0, 0.0, ""],
        ["verify", "c2", False, 1.2, 0, 0, 0.0, 0.0, ""],  # shed: an attempt, not a check
        ["verify", "c1", True, 3.0, 8, 4, 3.0, 0.0, "4 frame(s) REJECTED:CHALLENGE_REPLAYED"],
    ]
    summary = per_check(calls)
    assert summary["checks"] == 1
    assert summary["statements"]["p50"] == 43 and summary["transactions"]["p50"] == 17
    assert summary["ms"]["p50"] == pytest.approx(21.5)
    assert summary["ms_in_threads"]["p50"] == pytest.approx(17.5)
    assert summary["replays"] == 1 and summary["begin_only"] == 1
    assert list(summary["by_outcome"]) == ["4 frame(s) ACCEPTED"]


def test_generator_channel_to_replicas_is_round_robin() -> None:
    import json

    from benchmarks.load.generator import channel_options

    assert channel_options("127.0.0.1:5000") == ("127.0.0.1:5000", [])
    target, options = channel_options("127.0.0.1:5000,127.0.0.1:5001")
    assert target == "ipv4:127.0.0.1:5000,127.0.0.1:5001"
    opts = dict(options)
    assert json.loads(str(opts["grpc.service_config"]))["loadBalancingConfig"] == [{"round_robin": {}}]
    assert opts["grpc.enable_retries"] == 0


def test_workers_split_and_report_of_a_minimal_run(tmp_path: Path) -> None:
    from benchmarks.load.cluster import workers_per_replica
    from benchmarks.load.cluster_report import add_verdicts, check_report, write_outputs

    assert [workers_per_replica(2, n) for n in (1, 2, 3)] == [2, 1, 1]
    step = {
        "level": 0.5,
        "offered_rps": 5.0,
        "offered_actual_rps": 5.0,
        "achieved_rps": 5.0,
        "samples": 10,
        "p50_ms": 100.0,
        "p90_ms": 150.0,
        "p99_ms": 200.0,
        "max_ms": 210.0,
        "shed": 0,
        "shed_fraction": 0.0,
        "errors_by_status": {},
        "generator_lag_p99_ms": 1.0,
        "stages": {},
        "server": {"cpu_ms_per_check": {"server_main": 10.0, "face_workers": 60.0}},
    }
    configs = [
        {"name": n, "engine": e, "replicas": 1, "workers_per_replica": 2, "capacity_rps": c, "steps": [step]}
        for n, e, c in (("sqlite", "sqlite", 10.0), ("postgres-1", "postgres", 9.5))
    ]
    report = {
        "date": "2026-12-01T00:00:00+00:00",
        "mode": "smoke",
        "machine": {"cores": 2},
        "dlib_build": "test",
        "floor_ms": 90.0,
        "workers_rule": "test",
        "queue_limit": 3,
        "duration_per_step_s": 1.0,
        "probe_s": 1.0,
        "channels": 8,
        "configurations": configs,
    }
    add_verdicts(report)
    assert check_report(report) == []
    target = report["targets"][0]
    assert target["measured"] == pytest.approx(0.95) and target["met"] is True
    paths = write_outputs(report, tmp_path)
    assert paths["md"].read_text(encoding="utf-8").startswith("# bhytgate replica benchmark")

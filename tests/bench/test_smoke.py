"""CI smoke run of the load harness: seconds of load, asserting only a complete, well-formed report.

Benchmarks are not timed tests: no latency or capacity figure is asserted here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _finite_numbers(value: object, where: str = "report") -> list[str]:
    bad: list[str] = []
    if isinstance(value, float) and not math.isfinite(value):
        bad.append(where)
    elif isinstance(value, dict):
        for k, v in value.items():
            bad.extend(_finite_numbers(v, f"{where}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad.extend(_finite_numbers(v, f"{where}[{i}]"))
    return bad


@pytest.mark.timeout(180)
def test_smoke_run_writes_a_complete_report(tmp_path: Path, faces_dir: Path) -> None:
    from benchmarks.load.report import REQUIRED_KEYS, STEP_KEYS, check_report, write_outputs
    from benchmarks.load.run import Options, run

    options = Options(
        smoke=True,
        workers=1,
        queue_limit=1,
        out=tmp_path,
        faces=faces_dir,
        render_processes=1,
        chip_process=False,
    )
    report = run(options)
    paths = write_outputs(report, tmp_path)

    assert check_report(report) == []
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    for key in REQUIRED_KEYS:
        assert key in data, key
    assert data["workers"] == 1
    assert data["steps"], "no sweep steps"
    for step in data["steps"]:
        for key in STEP_KEYS:
            assert key in step, key
    assert sum(s["samples"] + sum(s["errors_by_status"].values()) for s in data["steps"]) > 0
    assert data["floor_ms"] > 0 and data["capacity_rps"] > 0 and data["baseline_capacity_rps"] > 0
    assert _finite_numbers(data) == []
    assert {t["target"] for t in data["targets"]} >= {"capacity vs workers/floor", "capacity vs baseline"}
    assert paths["md"].read_text(encoding="utf-8").startswith("# bhytgate load benchmark")
    assert paths["png"].stat().st_size > 1000
    assert data["gateway_process"]["server_log_tracebacks"] == 0

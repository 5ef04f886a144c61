"""CI smoke of the soak: a real `bhytgate serve` for a few seconds of load, sampled every 2 s.

Benchmarks are not timed tests: no latency, capacity or slope is asserted here, only that every
process of the server's tree was sampled, the report is complete and the server drained on SIGTERM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.mark.timeout(240)
def test_soak_smoke_samples_every_process_of_the_server(tmp_path: Path, faces_dir: Path) -> None:
    from benchmarks.load.soak import SoakOptions, run_soak
    from benchmarks.load.soak_report import write_outputs

    options = SoakOptions(
        out=tmp_path,
        minutes=6 / 60,
        interval_s=2.0,
        probe_s=3.0,
        warmup_s=1.0,
        workers=1,
        queue_limit=1,
        faces=faces_dir,
        render_processes=0,
        chip_process=False,
        label="smoke",
    )
    report = run_soak(options, say=lambda _: None)
    paths = write_outputs(report, tmp_path)

    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["capacity_rps"] > 0 and data["rate_rps"] == pytest.approx(0.7 * data["capacity_rps"])
    windows = data["windows"]
    assert len(windows) == 3
    for window in windows:
        assert {"server", "face_worker_1", "resource_tracker"} <= set(window["processes"]), window
        for sample in window["processes"].values():
            assert sample["rss_mb"] > 0 and sample["fds"] > 0
        assert len(window["loadavg"]) == 3
        assert window["sent"] == sum(window["statuses"].values())
    assert sum(w["ok"] for w in windows) > 0
    verdict = data["verdict"]
    assert set(verdict["processes"]) >= {"server", "face_worker_1", "resource_tracker"}
    for process in verdict["processes"].values():
        assert process["rss_slope_mb_per_min"] is not None
    assert data["shutdown"]["exit_code"] == 0
    assert data["shutdown"]["survivors_after_2s"] == 0
    assert data["shutdown"]["server_log_tracebacks"] == 0
    assert paths["md"].read_text(encoding="utf-8").startswith("# bhytgate soak")
    assert paths["png"].stat().st_size > 1000
    assert not (tmp_path / ".soak-partial.json").exists()

"""Evaluation maths (pure) and the `bhytgate face eval` command on a small real subset."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhytgate.face.evaluate import (
    clopper_pearson,
    det_points,
    empirical_threshold,
    form_pairs,
    parse_labels,
    rates_at,
    summarise,
    wilson,
)
from bhytgate_clients.cli import main


def test_pairs_from_the_shared_labels(faces_dir: Path) -> None:
    photos = parse_labels((faces_dir / "labels.csv").read_text(encoding="utf-8"))
    genuine, impostor = form_pairs([p.identity for p in photos])
    assert (len(photos), len(genuine), len(impostor)) == (55, 94, 1391)


def test_labels_are_validated() -> None:
    with pytest.raises(ValueError):
        parse_labels("file,name\na,b\n")
    with pytest.raises(ValueError):
        parse_labels("path,identity\na.jpg,x\na.jpg,y\n")
    with pytest.raises(ValueError):
        parse_labels("path,identity\na.jpg,\n")
    assert parse_labels("path,identity\n\na.jpg,x\n") == parse_labels("path,identity\na.jpg,x\n")


def test_clopper_pearson_known_values() -> None:
    lo, hi = clopper_pearson(0, 1391)
    assert lo == 0.0 and math.isclose(hi, 1 - 0.025 ** (1 / 1391), rel_tol=1e-6)
    lo, hi = clopper_pearson(5, 10)
    assert math.isclose(lo, 0.187086, abs_tol=1e-5) and math.isclose(hi, 0.812914, abs_tol=1e-5)
    assert clopper_pearson(10, 10)[1] == 1.0
    wl, wh = wilson(0, 1391)
    assert wl < 1e-12 and 0.002 < wh < 0.003


def test_rates_and_det() -> None:
    genuine = [0.3, 0.4, 0.55]
    impostor = [0.5, 0.7, 0.9, 1.0]
    r = rates_at(0.5, genuine, impostor)
    assert (r.false_non_matches, r.false_matches) == (1, 1)
    assert math.isclose(r.fnmr, 1 / 3) and math.isclose(r.fmr, 0.25)
    points = det_points(genuine, impostor)
    assert points[0] == (0.3, 0.0, 2 / 3) and points[-1] == (1.0, 1.0, 0.0)
    assert all(a[1] <= b[1] and a[2] >= b[2] for a, b in itertools.pairwise(points))
    assert empirical_threshold(impostor, 0.0) < 0.5
    assert empirical_threshold(impostor, 0.25) < 0.7


def test_failure_to_acquire_is_counted_apart() -> None:
    identities = ["a", "a", "b", "b"]
    distances = {(0, 2): 0.9, (0, 3): 0.8, (2, 3): 0.3}  # photo 1 failed to acquire
    report = summarise(identities, distances, {1: "face_too_small"}, threshold=0.5, target_fmr=0.001)
    assert report["genuine_pairs"] == 1 and report["genuine_pairs_labelled"] == 2
    assert report["impostor_pairs"] == 2 and report["fnmr"] == 0.0
    assert report["failure_to_acquire"] == {
        "count": 1,
        "rate": 0.25,
        "rate_ci95": list(clopper_pearson(1, 4)),
        "reasons": {"face_too_small": 1},
    }
    assert report["frr_including_fta"] == 0.5


def test_eval_command_on_a_subset(faces_dir: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,identity\n"
        "face_recognition/examples/obama.jpg,obama\n"
        "face_recognition/examples/obama2.jpg,obama\n"
        "face_recognition/examples/obama-240p.jpg,obama\n"
        "face_recognition/examples/biden.jpg,biden\n"
        "face-api.js/sheldon/sheldon1.png,sheldon\n"
        "face-api.js/sheldon/sheldon2.png,sheldon\n",
        encoding="utf-8",
    )
    plot = tmp_path / "det.png"
    result = CliRunner().invoke(
        main,
        ["face", "eval", "--labels", str(labels), "--root", str(faces_dir), "--json", "--plot", str(plot)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in (
        "genuine_pairs",
        "impostor_pairs",
        "threshold",
        "fnmr",
        "fmr",
        "failure_to_acquire",
        "fnmr_ci95",
        "fmr_ci95",
    ):
        assert key in report
    assert report["failure_to_acquire"]["count"] == 1
    assert report["failure_to_acquire"]["reasons"] == {"face_too_small": 1}
    assert (report["genuine_pairs"], report["impostor_pairs"]) == (2, 8)
    assert report["fmr"] == 0.0 and report["false_matches"] == 0
    assert set(report["timings_ms"]) >= {"decode", "detect", "landmarks", "embed"}
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_eval_refuses_paths_outside_root(faces_dir: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("path,identity\n../../etc/passwd,x\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["face", "eval", "--labels", str(labels), "--root", str(faces_dir)])
    assert result.exit_code != 0 and "escapes" in result.output

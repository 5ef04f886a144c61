"""`bhytgate face ...`: offline tools for the face side (evaluation on labelled photos)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from bhytgate_clients.machine import cpu_name


@click.group()
def face() -> None:
    """Face matching: evaluation and calibration."""


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = q / 100.0 * (len(ordered) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _machine() -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "gpu": "none used (dlib CUDA off)" if not _dlib_cuda() else "dlib built with CUDA",
        "os": platform.platform(),
        "python": platform.python_version(),
        "build": {
            d: _version(d)
            for d in ("dlib-bin", "dlib", "face-recognition", "face_recognition_models", "numpy", "pillow")
        },
    }


def _dlib_cuda() -> bool:
    import dlib

    return bool(getattr(dlib, "DLIB_USE_CUDA", False))


def _plot_det(
    points: Sequence[tuple[float, float, float]], genuine: int, impostor: int, threshold: float, out: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from statistics import NormalDist

    import matplotlib.pyplot as plt

    probit = NormalDist().inv_cdf
    # Zero rates have no probit; draw them at half a count, and say so on the axes.
    fmr_floor, fnmr_floor = 0.5 / max(impostor, 1), 0.5 / max(genuine, 1)

    def clamp(v: float, floor: float) -> float:
        return min(max(v, floor), 1 - floor)

    xs = [probit(clamp(p[1], fmr_floor)) for p in points]
    ys = [probit(clamp(p[2], fnmr_floor)) for p in points]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot(xs, ys, drawstyle="steps-post", label="DET")
    at = min(points, key=lambda p: abs(p[0] - threshold)) if points else None
    if at is not None:
        ax.plot(
            [probit(clamp(at[1], fmr_floor))],
            [probit(clamp(at[2], fnmr_floor))],
            "o",
            label=f"threshold {threshold:.2f}",
        )
    for axis, ticks in (
        (ax.xaxis, [0.001, 0.01, 0.05, 0.2, 0.5]),
        (ax.yaxis, [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8]),
    ):
        axis.set_ticks([probit(t) for t in ticks])
        axis.set_ticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(probit(fmr_floor) - 0.1, probit(0.5))
    ax.set_ylim(probit(fnmr_floor) - 0.1, probit(0.9))
    ax.set_xlabel(f"FMR ({impostor} impostor pairs; 0 drawn at {fmr_floor:.1e})")
    ax.set_ylabel(f"FNMR ({genuine} genuine pairs; 0 drawn at {fnmr_floor:.1e})")
    ax.set_title("DET, dlib ResNet (face_recognition 1.3.0), HOG")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


@face.command("eval")
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="path,identity CSV",
)
@click.option(
    "--root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="directory the CSV paths are relative to",
)
@click.option("--threshold", type=float, default=None, help="override the configured match threshold")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the DET curve (PNG)"
)
def eval_command(
    labels_path: Path, root: Path, threshold: float | None, as_json: bool, plot: Path | None
) -> None:
    """Form every genuine and impostor pair from a labelled set and report FNMR/FMR with 95% intervals."""
    import numpy as np

    from bhytgate.face.config import FaceConfig
    from bhytgate.face.engine import FaceEngine
    from bhytgate.face.errors import FaceError
    from bhytgate.face.evaluate import det_points, form_pairs, parse_labels, summarise

    try:
        photos = parse_labels(labels_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.UsageError(f"labels: {exc}") from exc
    config = FaceConfig()
    used_threshold = config.match_threshold if threshold is None else threshold
    t_load = time.perf_counter()
    engine = FaceEngine(config)
    load_ms = (time.perf_counter() - t_load) * 1000.0
    base = root.resolve()

    embeddings: dict[int, Any] = {}
    failures: dict[int, str] = {}
    stages: dict[str, list[float]] = {"decode": [], "detect": [], "landmarks": [], "embed": [], "total": []}
    for i, photo in enumerate(photos):
        path = (base / photo.path).resolve()
        if not path.is_relative_to(base):
            raise click.UsageError(f"{photo.path!r} escapes --root")
        try:
            analysis = engine.analyze(path.read_bytes())
        except FaceError as exc:
            failures[i] = exc.reason
            continue
        except OSError:
            failures[i] = "unreadable"
            continue
        embeddings[i] = analysis.embedding
        t = analysis.timings
        for name, value in (
            ("decode", t.decode_ms),
            ("detect", t.detect_ms),
            ("landmarks", t.landmarks_ms),
            ("embed", t.embed_ms),
        ):
            stages[name].append(value)
        stages["total"].append(t.decode_ms + t.detect_ms + t.landmarks_ms + t.embed_ms)

    identities = [p.identity for p in photos]
    genuine_pairs, impostor_pairs = form_pairs(identities)
    distances = {
        (a, b): float(np.linalg.norm(embeddings[a] - embeddings[b]))
        for a, b in genuine_pairs + impostor_pairs
        if a in embeddings and b in embeddings
    }
    report = summarise(
        identities, distances, failures, threshold=used_threshold, target_fmr=config.target_fmr
    )
    report["failed_photos"] = {photos[i].path: reason for i, reason in sorted(failures.items())}
    report["timings_ms"] = {
        name: {"median": statistics.median(v), "p95": _percentile(v, 95), "n": len(v)}
        for name, v in stages.items()
        if v
    }
    report["model_load_ms"] = load_ms
    report["model"] = {"name": engine.model_id.name, "version": engine.model_id.version}
    report["machine"] = _machine()
    report["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    if plot is not None:
        genuine = [distances[p] for p in genuine_pairs if p in distances]
        impostor = [distances[p] for p in impostor_pairs if p in distances]
        _plot_det(det_points(genuine, impostor), len(genuine), len(impostor), used_threshold, plot)
        report["plot"] = str(plot)

    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=False))
        return
    fta = report["failure_to_acquire"]
    assert isinstance(fta, dict)
    click.echo(
        f"threshold {used_threshold:.3f}: FNMR {report['fnmr']:.4f} {report['fnmr_ci95']} over "
        f"{report['genuine_pairs']} genuine pairs; FMR {report['fmr']:.5f} {report['fmr_ci95']} over "
        f"{report['impostor_pairs']} impostor pairs; failure to acquire {fta['count']}/{report['photos']}"
    )

"""Face-engine stage costs on one thread: the ResNet on dlib vs onnxruntime, and HOG + landmarks,
for each dlib build given (the OpenBLAS build in the project's venv, `dlib-bin` in another), in one run.

    python -m benchmarks.face_embed [--python PY ...] [--rounds N] [--out benchmarks/results/NAME]

Each interpreter runs a child process (one BLAS thread, one onnxruntime thread, as a face worker
runs) over the 55 labelled photos of ../shared/faces: ``FaceEngine.analyze`` per photo (decode,
HOG detection, landmarks and quality gate, embedding: the engine's own stage timings) with the
embedder on dlib and on onnxruntime, then the embedding alone (one face; a batch of 8). The parent
writes NAME.json and NAME.md with the machine beside the numbers (benchmarks/machine.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p90": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
        "n": len(ordered),
    }


def child(rounds: int, faces_dir: Path) -> dict[str, Any]:
    """Runs inside the interpreter under test."""
    import numpy as np

    from benchmarks.machine import dlib_build
    from bhytgate.face import FaceConfig, FaceEngine
    from bhytgate.face.embed import embed_face
    from bhytgate.face.evaluate import parse_labels

    photos = [
        (faces_dir / p.path).read_bytes() for p in parse_labels((faces_dir / "labels.csv").read_text("utf-8"))
    ]
    out: dict[str, Any] = {"dlib_build": dlib_build(), "photos": len(photos), "rounds": rounds}
    engines = {name: FaceEngine(FaceConfig(embedder=name)) for name in ("dlib", "onnx")}
    for name, engine in engines.items():
        assert engine.models.embedder == name
        stages: dict[str, list[float]] = {"decode": [], "detect": [], "landmarks": [], "embed": []}
        for data in photos[:3]:
            engine.analyze(data)  # warm-up
        for _ in range(rounds):
            for data in photos:
                t = engine.analyze(data).timings
                stages["decode"].append(t.decode_ms)
                stages["detect"].append(t.detect_ms)
                stages["landmarks"].append(t.landmarks_ms)
                stages["embed"].append(t.embed_ms)
        out[f"analyze_{name}"] = stages
    # The embedding alone, on the same crops: dlib's call vs onnxruntime, one face and a batch of 8.
    engine = engines["onnx"]
    located = [engine._locate(d, check_pose=True, check_blur=True) for d in photos]
    pixels_boxes = [(loc.crop, loc.crop_box.as_tuple()) for loc in located]
    shapes = [
        engine.models.sp5(px, engine.models.rect(b[0], b[1], b[2] - 1, b[3] - 1)) for px, b in pixels_boxes
    ]
    chips = np.stack(
        [engine.models.face_chip(px, s) for (px, _), s in zip(pixels_boxes, shapes, strict=True)]
    )
    timings: dict[str, list[float]] = {
        "dlib": [],
        "onnx": [],
        "onnx_batch8_per_face": [],
        "align": [],
        "embed_face_onnx": [],
    }
    encoder, dlib_encoder = engine.models.onnx, engine.models.encoder
    worst = 0.0
    for _ in range(rounds):
        for i, ((px, box), shape) in enumerate(zip(pixels_boxes, shapes, strict=True)):
            t0 = time.perf_counter()
            a = np.asarray(dlib_encoder.compute_face_descriptor(px, shape, 1))
            t1 = time.perf_counter()
            b = encoder.embed_chips(chips[i : i + 1])[0]
            t2 = time.perf_counter()
            embed_face(engines["onnx"].models, px, box)  # the engine's call: align, chip, network
            t3 = time.perf_counter()
            engine.models.face_chip(
                px, engine.models.sp5(px, engine.models.rect(box[0], box[1], box[2] - 1, box[3] - 1))
            )
            t4 = time.perf_counter()
            timings["dlib"].append((t1 - t0) * 1000)
            timings["onnx"].append((t2 - t1) * 1000)
            timings["align"].append((t4 - t3) * 1000)
            timings["embed_face_onnx"].append((t3 - t2) * 1000)
            worst = max(worst, float(np.abs(a - b).max()))
        for start in range(0, len(chips) - 7, 8):
            t0 = time.perf_counter()
            encoder.embed_chips(chips[start : start + 8])
            timings["onnx_batch8_per_face"].append((time.perf_counter() - t0) * 1000 / 8)
    out["embed_only"] = timings
    out["max_abs_difference"] = worst
    return out


def _md(report: dict[str, Any]) -> str:
    lines = [
        f"# Face engine stages, one thread ({report['date']})",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, git "
        f"{report['machine']['git']}; load average at start {report['loadavg_start']}, at end "
        f"{report['loadavg_end']} (the machine is shared with other engineers' test runs).",
        "",
        "Per face or photo, milliseconds, median (mean) over the 55 labelled photos x rounds.",
        "",
        "| dlib build | embed: dlib | embed: onnxruntime | onnx, batch of 8, per face | 5-pt align + chip |"
        " HOG detect | landmarks + gate | analyze() total, dlib / onnx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        e, ad, ao = run["embed_only"], run["analyze_dlib"], run["analyze_onnx"]

        def f(s: dict[str, float]) -> str:
            return f"{s['median']:.1f} ({s['mean']:.1f})"

        tot_d = sum(ad[k]["mean"] for k in ad)
        tot_o = sum(ao[k]["mean"] for k in ao)
        lines.append(
            f"| {run['dlib_build']} | {f(e['dlib'])} | {f(e['onnx'])} | {f(e['onnx_batch8_per_face'])} | "
            f"{f(e['align'])} | {f(ao['detect'])} | {f(ao['landmarks'])} | {tot_d:.1f} / {tot_o:.1f} |"
        )
    lines += [
        "",
        "Max |onnx - dlib| over the embeddings: "
        + ", ".join(f"{r['max_abs_difference']:.2e}" for r in report["runs"]),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", action="append", help="interpreter(s) to measure (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rounds, args.faces)))
        return 0
    from benchmarks.machine import machine_info

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join(
        str(ROOT / p) for p in ("", "server", "clients", "clients/sdk-python/src")
    )
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "runs": [],
    }
    # Interleaved: each round runs every interpreter once, so a change in the machine's load
    # (other tenants) falls on every build alike.
    pythons = args.python or [sys.executable]
    merged: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for py in pythons:
            cmd = [py, "-m", "benchmarks.face_embed", "--child", "--rounds", "1", "--faces", str(args.faces)]
            done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            into = merged.setdefault(
                py, {"python": py, "dlib_build": run["dlib_build"], "max_abs_difference": 0.0}
            )
            into["max_abs_difference"] = max(into["max_abs_difference"], run["max_abs_difference"])
            into["photos"] = run["photos"]
            for group in ("analyze_dlib", "analyze_onnx", "embed_only"):
                for stage, values in run[group].items():
                    into.setdefault(group, {}).setdefault(stage, []).extend(values)
    for run in merged.values():
        for group in ("analyze_dlib", "analyze_onnx", "embed_only"):
            run[group] = {stage: _stats(values) for stage, values in run[group].items()}
        report["runs"].append(run)
    report["rounds"] = args.rounds
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = _md(report)
    print(text)
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

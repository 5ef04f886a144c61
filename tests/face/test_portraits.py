"""Chip-style portraits for the evaluation, and the ordered-pair report built on them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bhytgate.face import decode as _decode
from bhytgate.face.engine import FaceEngine
from bhytgate.face.portrait_eval import ordered_pairs, summarise_variant
from bhytgate.face.portraits import DEFAULT_VARIANTS, PortraitVariant, make_portrait
from bhytgate_clients.cli import main


def decode_image(data: bytes) -> _decode.DecodedImage:
    return _decode.decode_image(data, max_bytes=1 << 24, max_pixels=1 << 24)


def test_a_portrait_has_the_face_size_and_codec_asked_for(
    engine: FaceEngine, read: Callable[[str], bytes]
) -> None:
    data = read("face_recognition/examples/obama.jpg")
    pixels = decode_image(data).pixels
    box = engine.analyze(data).box
    for variant in (PortraitVariant(90, "jpeg", 50), PortraitVariant(64, "jpeg2000", 40)):
        portrait = make_portrait(pixels, box.height, variant)
        decoded = decode_image(portrait)
        assert decoded.format == variant.codec
        scale = variant.face_px / box.height
        assert abs(decoded.height - pixels.shape[0] * scale) <= 1
        # and the gateway's chip path still finds the face in it
        assert engine.chip_embedding(portrait).shape == (128,)


def test_a_portrait_is_never_enlarged() -> None:
    pixels = np.zeros((40, 30, 3), dtype=np.uint8)
    out = decode_image(make_portrait(pixels, 20, PortraitVariant(120, "jpeg", 50)))
    assert (out.height, out.width) == (40, 30)


@pytest.mark.parametrize("args", [(8, "jpeg", 50), (90, "jpeg", 99), (90, "jpeg2000", 0), (2000, "jpeg", 50)])
def test_out_of_range_variants_are_refused(args: tuple[int, str, int]) -> None:
    with pytest.raises(ValueError):
        PortraitVariant(*args)  # type: ignore[arg-type]


def test_the_default_grid_covers_token_sizes_and_both_codecs() -> None:
    assert {v.face_px for v in DEFAULT_VARIANTS} == {64, 90, 120}
    assert {v.codec for v in DEFAULT_VARIANTS} == {"jpeg", "jpeg2000"}


def test_ordered_pairs_use_each_photo_as_reference_and_probe() -> None:
    genuine, impostor = ordered_pairs(["a", "a", "b"])
    assert sorted(genuine) == [(0, 1), (1, 0)]
    assert len(impostor) == 4


def test_rates_at_the_target_fmr_come_from_the_impostor_tail() -> None:
    ids = ["a"] * 3 + ["b"] * 3 + [f"x{i}" for i in range(30)]
    genuine, impostor = ordered_pairs(ids)
    distances = {p: 0.4 for p in genuine}
    distances[genuine[0]] = 0.62  # one hard genuine pair
    for k, p in enumerate(impostor):
        distances[p] = 0.6 + k * 1e-4  # the closest impostor at 0.6
    report = summarise_variant(ids, distances, {}, {}, threshold=0.5, target_fmr=1e-3)
    at = report["at_threshold"]
    target = report["at_target_fmr"]
    assert isinstance(at, dict) and isinstance(target, dict)
    assert at["false_non_matches"] == 1 and at["false_matches"] == 0
    assert target["threshold"] < 0.6 + 1e-4 * (len(impostor) * 1e-3)  # at most 1 false match allowed
    assert target["false_non_matches"] == 1
    assert report["genuine_pairs"] == len(genuine)


def test_the_cli_reports_every_variant_with_intervals(faces_dir: Path, tmp_path: Path) -> None:
    rows = (faces_dir / "labels.csv").read_text(encoding="utf-8").splitlines()
    subset = [rows[0], *[r for r in rows[1:] if r.split(",")[1] in {"obama", "biden", "leonard"}]]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(subset) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "face",
            "eval-chip",
            "--labels",
            str(labels),
            "--root",
            str(faces_dir),
            "--variant",
            "jpeg:50:90",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    variant = report["variants"]["jpeg-q50-face90"]
    assert variant["genuine_pairs"] > 0 and variant["impostor_pairs"] > 0
    assert 0 <= variant["at_target_fmr"]["fnmr_ci95"][0] <= variant["at_target_fmr"]["fnmr_ci95"][1] <= 1
    bad = CliRunner().invoke(
        main, ["face", "eval-chip", "--labels", str(labels), "--root", str(faces_dir), "--variant", "gif:1:2"]
    )
    assert bad.exit_code != 0 and "CODEC:QUALITY:FACE_PX" in bad.output

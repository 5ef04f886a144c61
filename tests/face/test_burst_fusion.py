"""Several live frames for the card match: the rule, and the worker's path (run_face_job) on real
photos against chip-style portraits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bhytgate.face import Action, Challenge, FaceConfig, FaceEngine, InMemoryFrameStore
from bhytgate.face.decode import decode_image
from bhytgate.face.match import fused_distance
from bhytgate.face.portraits import PortraitVariant, make_portrait
from bhytgate.service.config import load_config, shared_settings
from bhytgate.service.facejob import FaceJob, LivenessSpec, run_face_job

Read = Callable[[str], bytes]


@pytest.fixture(scope="module")
def read(framed_read: Read) -> Read:
    """Burst frames as a camera frames them (conftest.framed_read), not the raw 150 px crops."""
    return framed_read


T0 = 1_700_000_000_000
SHELDON = ("sheldon1", "sheldon5", "sheldon3")  # frontal, turned left, turned right (test_liveness)


def _path(name: str) -> str:
    return f"face-api.js/{name.rstrip('0123456789')}/{name}.png"


def _portrait(engine: FaceEngine, read: Read, name: str) -> bytes:
    """A DG2-style portrait of one photo: face 90 px, JPEG q50 (the chip-portrait evaluation's)."""
    data = read(_path(name))
    face = engine.analyze(data)
    pixels = decode_image(data, max_bytes=10_000_000, max_pixels=10_000_000).pixels
    return make_portrait(pixels, face.box.height, PortraitVariant(90, "jpeg", 50))


def _job(read: Read, chip: bytes) -> FaceJob:
    frames = tuple((read(_path(n)), T0 + 500 + i * 400) for i, n in enumerate(SHELDON))
    spec = LivenessSpec(b"n" * 16, ("turn_left", "turn_right"), T0, T0 + 20_000)
    return FaceJob(frames=frames, now_ms=T0 + 5_000, chip_image=chip, liveness=spec)


def _evidence_distances(engine: FaceEngine, read: Read, chip: bytes) -> list[float]:
    burst = [(read(_path(n)), T0 + 500 + i * 400) for i, n in enumerate(SHELDON)]
    challenge = Challenge(b"n" * 16, (Action.TURN_LEFT, Action.TURN_RIGHT), T0, T0 + 20_000)
    evidence = engine.verify_liveness(challenge, burst, now_ms=T0 + 5_000, store=InMemoryFrameStore())
    assert sorted(evidence.frame_embeddings) == [0, 1, 2]  # best frontal + both turn peaks
    assert evidence.match_embeddings[0] is evidence.live_embedding
    reference = engine.chip_embedding(chip)
    return [float(np.linalg.norm(e - reference)) for e in evidence.match_embeddings]


def test_fused_distance_rules() -> None:
    ref = np.zeros(128)
    frames = [np.full(128, v / np.sqrt(128)) for v in (0.5, 0.3, 0.7)]  # distances 0.5, 0.3, 0.7
    assert fused_distance(frames, ref, "best_frame") == pytest.approx(0.5)
    assert fused_distance(frames, ref, "min") == pytest.approx(0.3)
    assert fused_distance(frames, ref, "mean") == pytest.approx(0.5)
    with pytest.raises(ValueError):
        fused_distance(frames, ref, "max")
    with pytest.raises(ValueError):
        fused_distance([], ref, "min")
    with pytest.raises(ValueError):
        FaceConfig(burst_fusion="max")


def test_the_worker_matches_the_card_with_every_embedded_frame(engine: FaceEngine, read: Read) -> None:
    chip = _portrait(engine, read, "sheldon2")
    distances = _evidence_distances(engine, read, chip)
    outcome = run_face_job(engine, _job(read, chip))
    assert outcome.liveness_ok is True and outcome.capture_failure is None
    assert engine.config.burst_fusion == "min"
    assert outcome.chip_distance == pytest.approx(min(distances))
    # On this burst a turn peak is nearer the portrait than the frontal frame (measured 0.31 vs
    # 0.37): the fused distance is not the single-frame one.
    assert min(distances) < distances[0] - 0.02
    assert outcome.threshold is not None and outcome.chip_distance <= outcome.threshold


def test_best_frame_rule_keeps_the_single_frame_distance(engine: FaceEngine, read: Read) -> None:
    single = FaceEngine(dataclasses.replace(engine.config, burst_fusion="best_frame"), models=engine.models)
    chip = _portrait(engine, read, "sheldon2")
    distances = _evidence_distances(engine, read, chip)
    outcome = run_face_job(single, _job(read, chip))
    assert outcome.chip_distance == pytest.approx(distances[0])


def test_fusion_decides_where_the_frontal_frame_alone_would_not(engine: FaceEngine, read: Read) -> None:
    # A threshold between the frontal frame's distance and the nearest turn peak's: the fused rule
    # accepts, the single-frame rule does not. Shows the decision really uses the fused distance.
    chip = _portrait(engine, read, "sheldon2")
    distances = _evidence_distances(engine, read, chip)
    cut = (distances[0] + min(distances)) / 2
    for fusion, accepted in (("min", True), ("best_frame", False)):
        cfg = dataclasses.replace(engine.config, burst_fusion=fusion, match_threshold=cut)
        outcome = run_face_job(FaceEngine(cfg, models=engine.models), _job(read, chip))
        assert outcome.chip_distance is not None and outcome.threshold == cut
        assert (outcome.chip_distance <= cut) is accepted, fusion


def test_another_persons_card_stays_rejected_with_fusion(engine: FaceEngine, read: Read) -> None:
    for other in ("howard2", "raj4", "leonard1", "penny1"):
        outcome = run_face_job(engine, _job(read, _portrait(engine, read, other)))
        assert outcome.liveness_ok is True
        assert outcome.chip_distance is not None and outcome.threshold is not None
        assert outcome.chip_distance > outcome.threshold, other


def test_face_settings_from_gateway_toml_and_what_a_cluster_shares(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(
        '[face]\nburst_fusion = "mean"\nsecond_matcher = "none"\nsface_model = "/opt/models/sface.onnx"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    assert config.face.burst_fusion == "mean" and config.face.match_threshold == 0.56
    shared = shared_settings(config)["face"]
    # the rule and the thresholds must agree across replicas; where a file lies need not
    assert shared["burst_fusion"] == "mean" and shared["second_matcher"] == "none"
    assert shared["match_threshold"] == 0.56 and shared["fused_z_threshold"] == -2.8
    assert "sface_model" not in shared and "embedder" not in shared

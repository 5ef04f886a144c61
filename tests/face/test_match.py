"""Matching at the configured threshold on real photos; templates; the chip-photo cache."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
import pytest

from bhytgate.face import FaceAnalysis, FaceConfig, FaceEngine, FaceError, ModelId
from bhytgate.face.errors import (
    InvalidEmbedding,
    TemplateCorrupt,
    TemplateInconsistent,
    TemplateModelMismatch,
)
from bhytgate.face.evaluate import LabelledPhoto
from bhytgate.face.match import decide, distance, match
from bhytgate.face.template import build_template, template_from_bytes, template_to_bytes

Read = Callable[[str], bytes]


def _pair_distances(
    labelled: list[LabelledPhoto], analyses: dict[str, FaceAnalysis | FaceError]
) -> tuple[list[tuple[float, str, str]], list[tuple[float, str, str]]]:
    genuine, impostor = [], []
    for a, b in itertools.combinations(labelled, 2):
        ea, eb = analyses[a.path], analyses[b.path]
        if isinstance(ea, FaceError) or isinstance(eb, FaceError):
            continue
        d = distance(ea.embedding, eb.embedding)
        (genuine if a.identity == b.identity else impostor).append((d, a.path, b.path))
    return genuine, impostor


def test_threshold_is_configured_not_the_library_default() -> None:
    config = FaceConfig()
    assert config.match_threshold < 0.6
    assert 0.0 < config.target_fmr <= 0.001


def test_impostors_rejected_and_genuines_accepted_at_the_configured_threshold(
    engine: FaceEngine, labelled: list[LabelledPhoto], analyses: dict[str, FaceAnalysis | FaceError]
) -> None:
    threshold = engine.config.match_threshold
    genuine, impostor = _pair_distances(labelled, analyses)
    # One failure to acquire on the labelled set: stuart5, turned too far (test_quality.TURNED_AWAY).
    assert (len(genuine), len(impostor)) == (90, 1341)
    false_matches = [p for p in impostor if decide(p[0], threshold).matched]
    assert false_matches == []
    accepted = sum(decide(d, threshold).matched for d, _, _ in genuine)
    # Measured 77/94: the misses are 150 px TV frames across episodes and one 180 px portrait; the
    # price of a threshold that keeps a margin under the nearest impostor (docs/face.md).
    assert accepted / len(genuine) >= 0.75
    obama = [d for d, a, b in genuine if "obama" in a and "obama" in b]
    assert len(obama) == 6 and max(obama) <= threshold


def test_library_default_would_let_an_impostor_through(
    labelled: list[LabelledPhoto], analyses: dict[str, FaceAnalysis | FaceError]
) -> None:
    # Why 0.6 is not used: even on this small set an impostor pair passes at 0.6.
    _, impostor = _pair_distances(labelled, analyses)
    assert any(decide(d, 0.6).matched for d, _, _ in impostor)


def test_match_result_carries_distance_and_threshold() -> None:
    a = np.zeros(128)
    b = np.zeros(128)
    b[0] = 0.3
    result = match(a, b, 0.5)
    assert result.matched and result.threshold == 0.5 and abs(result.distance - 0.3) < 1e-12
    assert not decide(0.5000001, 0.5).matched and decide(0.5, 0.5).matched
    assert not decide(float("nan"), 0.5).matched
    with pytest.raises(InvalidEmbedding):
        match(np.zeros(127), b, 0.5)
    with pytest.raises(InvalidEmbedding):
        match(np.full(128, np.inf), b, 0.5)


def test_chip_embedding_is_cached_by_sha256(engine: FaceEngine, read: Read) -> None:
    dg2 = read("face_recognition/examples/obama.jpg")
    first = engine.chip_embedding(dg2)
    start = time.perf_counter()
    again = engine.chip_embedding(bytes(dg2))
    assert time.perf_counter() - start < 0.01
    assert again is first and not first.flags.writeable


def test_chip_cache_is_bounded(engine: FaceEngine, read: Read) -> None:
    small = FaceEngine(FaceConfig(chip_cache_size=2), models=engine.models)
    photos = [f"face-api.js/sheldon/sheldon{i}.png" for i in (1, 2, 3)]
    for p in photos:
        small.chip_embedding(read(p))
    assert len(small._chip_cache) == 2


def test_enrolment_template_round_trip(engine: FaceEngine, read: Read) -> None:
    captures = [read(f"face_recognition/examples/{n}") for n in ("obama.jpg", "obama2.jpg")]
    template = engine.enrol(captures, num_jitters=2)
    assert template.captures == 2 and template.model == engine.model_id
    stored = template_to_bytes(template)
    back = template_from_bytes(stored, expected_model=engine.model_id)
    assert np.array_equal(back.embedding, template.embedding)
    probe = engine.analyze(read("face_recognition/tests/test_images/obama3.jpg")).embedding
    assert engine.match(probe, back.embedding).matched
    other = ModelId(name=engine.model_id.name, version=engine.model_id.version + "-retrained")
    with pytest.raises(TemplateModelMismatch) as err:
        template_from_bytes(stored, expected_model=other)
    assert err.value.reason == "template_model_mismatch"


def test_enrolment_refuses_two_people(
    engine: FaceEngine, analyses: dict[str, FaceAnalysis | FaceError]
) -> None:
    a = analyses["face_recognition/examples/obama.jpg"]
    b = analyses["face_recognition/examples/biden.jpg"]
    assert not isinstance(a, FaceError) and not isinstance(b, FaceError)
    with pytest.raises(TemplateInconsistent):
        build_template([a.embedding, b.embedding], engine.model_id, consistency_threshold=0.5)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:-1],
        lambda b: b + b"\0",
        lambda b: b"X" + b[1:],
        lambda b: b[:6] + b"\x02" + b[7:],
        lambda b: b[:-8] + np.array([np.nan]).astype("<f8").tobytes(),
        lambda b: b"",
    ],
)
def test_corrupt_templates_are_refused(engine: FaceEngine, mangle: Callable[[bytes], bytes]) -> None:
    template = build_template([np.full(128, 0.01)], engine.model_id, consistency_threshold=0.5)
    with pytest.raises(TemplateCorrupt):
        template_from_bytes(mangle(template_to_bytes(template)))

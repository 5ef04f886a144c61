"""The multi-frame / two-matcher evaluation's pure parts: pseudo-bursts, fused scores, intervals."""

from __future__ import annotations

import numpy as np
import pytest

from bhytgate.face.fusion_eval import (
    Burst,
    at_target_fmr,
    burst_scores,
    impostor_norm,
    operating_point,
    pseudo_bursts,
    zfuse,
)
from bhytgate.face.match import ScoreFusion

IDS = ["a", "a", "a", "b", "b", "c"]


def test_pseudo_bursts_cover_every_subset_and_put_the_most_frontal_first() -> None:
    yaw = {0: 0.3, 1: 0.1, 2: 0.2, 3: 0.0, 4: 0.5, 5: 0.4}
    genuine, impostor = pseudo_bursts(IDS, yaw, [0], 2, lambda j: yaw[j])
    # reference 0 (person a): genuine {1, 2}; impostors {3, 4} from b (c has one photo)
    assert genuine == [Burst(0, (1, 2))]
    assert impostor == [Burst(0, (3, 4))]
    genuine, impostor = pseudo_bursts(IDS, yaw, range(6), 1, lambda j: yaw[j])
    assert len(genuine) == 3 * 2 + 2 * 1  # ordered (reference, probe) pairs of one person
    assert len(impostor) == 6 * 5 - len(genuine)
    # the reference photo is never in its own burst, and failed probes are left out
    genuine, impostor = pseudo_bursts(IDS, [1, 2, 3, 5], [0, 4], 1, lambda j: yaw[j])
    assert all(b.reference not in b.frames for b in genuine + impostor)
    assert {b.frames[0] for b in genuine + impostor} <= {1, 2, 3, 5}
    g3, _ = pseudo_bursts(IDS, yaw, [0], 3, lambda j: yaw[j])
    assert g3 == []  # person a has only two other photos
    with pytest.raises(ValueError):
        pseudo_bursts(IDS, yaw, [0], 0, lambda j: yaw[j])


def test_burst_scores_fuse_per_frame_scores() -> None:
    scores = {(0, 1): 0.6, (0, 2): 0.4, (0, 3): 0.9}
    bursts = [Burst(0, (1, 2)), Burst(0, (3,))]
    assert burst_scores(bursts, scores, "best_frame") == [0.6, 0.9]
    assert burst_scores(bursts, scores, "min") == [0.4, 0.9]
    assert burst_scores(bursts, scores, "mean") == [pytest.approx(0.5), 0.9]
    with pytest.raises(ValueError):
        burst_scores(bursts, scores, "max")


def test_operating_points_and_intervals() -> None:
    genuine = [0.3, 0.4, 0.5, 0.7]
    impostor = [0.55, 0.8, 0.9, 1.0] * 250  # 1,000 impostors, 250 at 0.55
    at = operating_point(genuine, impostor, 0.6)
    assert at["false_non_matches"] == 1 and at["false_matches"] == 250
    lo, hi = at["fnmr_cp95"]  # type: ignore[misc]
    wlo, whi = at["fnmr_wilson95"]  # type: ignore[misc]
    assert lo < 0.25 < hi and wlo < 0.25 < whi and lo <= wlo  # the exact interval is the wider
    target = at_target_fmr(genuine, impostor, 1e-3)
    assert target["false_matches"] == 0 and target["threshold"] < 0.55  # type: ignore[operator]
    assert target["false_non_matches"] == 1 and target["nearest_impostor"] == 0.55


def test_z_fusion_matches_the_gateway_rule() -> None:
    norm_a, norm_b = impostor_norm([0.8, 0.9, 1.0]), impostor_norm([0.9, 1.0, 1.1])
    a, b = np.array([0.4, 0.9]), np.array([0.5, 1.0])
    fusion = ScoreFusion(norm_a[0], norm_a[1], norm_b[0], norm_b[1], z_threshold=-2.0)
    z = zfuse(a, b, norm_a, norm_b)
    assert z[0] == pytest.approx(fusion.zscore(0.4, 0.5)) and z[1] == pytest.approx(0.0)
    # mapped so that the fused threshold lands on the configured one: decisions agree
    for dz in (-0.01, 0.01):
        d_a = norm_a[0] + norm_a[1] * (-2.0 + dz)
        d_b = norm_b[0] + norm_b[1] * (-2.0 + dz)
        assert (fusion.distance(d_a, d_b, 0.56) <= 0.56) == (dz <= 0)
    with pytest.raises(ValueError):
        impostor_norm([0.5, 0.5])

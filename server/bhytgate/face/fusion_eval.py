"""Multi-frame and two-matcher evaluation: pseudo-bursts of real photos against chip-style portraits.

A liveness burst embeds its best frontal frame and each head-turn peak (1 + turns frames). We have
no real bursts with labels, so a *pseudo-burst* stands in for one: k photos of one person (the live
side) against the chip-style portrait of another photo (the reference), every k-subset of a
person's other photos for genuine bursts and every k-subset of another person's photos for impostor
bursts. The most frontal photo (smallest |yaw proxy|) plays the best frontal frame, as in the
verifier. Photos of one person taken on different days differ far more than frames of one burst,
so the gain measured here is an upper bound on what fusion gives on real bursts.

Pure functions over indices and scores; ``bhytgate face eval-fusion`` does the I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev

import numpy as np
import numpy.typing as npt

from bhytgate.face.evaluate import clopper_pearson, empirical_threshold, rates_at, wilson
from bhytgate.face.match import BURST_FUSIONS, fuse_frames


@dataclass(frozen=True, slots=True)
class Burst:
    reference: int
    frames: tuple[int, ...]  # probe indices, best frontal first


def pseudo_bursts(
    identities: Sequence[str],
    probes: Collection[int],
    references: Collection[int],
    k: int,
    frontal: Callable[[int], float],
) -> tuple[list[Burst], list[Burst]]:
    """Every (reference, k-subset of one person's acquired photos other than the reference).

    ``frontal(i)`` ranks a photo for "best frontal frame" (smaller is more frontal); ties go to the
    lower index. Returns (genuine, impostor)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    by_person: dict[str, list[int]] = {}
    for j in sorted(probes):
        by_person.setdefault(identities[j], []).append(j)
    genuine: list[Burst] = []
    impostor: list[Burst] = []
    for r in sorted(references):
        for person, members in by_person.items():
            pool = [j for j in members if j != r]
            for subset in itertools.combinations(pool, k):
                best = min(subset, key=lambda j: (frontal(j), j))
                frames = (best, *(j for j in subset if j != best))
                (genuine if person == identities[r] else impostor).append(Burst(r, frames))
    return genuine, impostor


def burst_scores(
    bursts: Sequence[Burst], pair_score: Mapping[tuple[int, int], float], fusion: str
) -> list[float]:
    """Each burst's fused score from the per-(reference, probe) scores (smaller = more alike)."""
    if fusion not in BURST_FUSIONS:
        raise ValueError(f"fusion must be one of {BURST_FUSIONS}")
    return [fuse_frames([pair_score[(b.reference, j)] for j in b.frames], fusion) for b in bursts]


def operating_point(
    genuine: Sequence[float], impostor: Sequence[float], threshold: float
) -> dict[str, object]:
    """FNMR and FMR at one threshold, with exact (Clopper-Pearson) and Wilson 95% intervals."""
    r = rates_at(threshold, genuine, impostor)
    return {
        "threshold": threshold,
        "genuine": r.genuine_pairs,
        "impostor": r.impostor_pairs,
        "false_non_matches": r.false_non_matches,
        "fnmr": r.fnmr,
        "fnmr_cp95": list(r.fnmr_ci95),
        "fnmr_wilson95": list(wilson(r.false_non_matches, r.genuine_pairs)),
        "false_matches": r.false_matches,
        "fmr": r.fmr,
        "fmr_cp95": list(clopper_pearson(r.false_matches, r.impostor_pairs)),
    }


def at_target_fmr(
    genuine: Sequence[float], impostor: Sequence[float], target_fmr: float
) -> dict[str, object]:
    """The operating point at the largest threshold whose measured FMR is at most the target."""
    threshold = empirical_threshold(impostor, target_fmr) if impostor else 0.0
    out = operating_point(genuine, impostor, threshold)
    out["nearest_impostor"] = min(impostor) if impostor else None
    return out


def impostor_norm(impostor: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) sd of impostor scores: the z-normalisation of score-level fusion."""
    if len(impostor) < 2:
        raise ValueError("need at least two impostor scores")
    sd = pstdev(impostor)
    if sd <= 0:
        raise ValueError("impostor scores do not vary")
    return fmean(impostor), sd


def zfuse(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    norm_a: tuple[float, float],
    norm_b: tuple[float, float],
) -> npt.NDArray[np.float64]:
    """The mean of the two z-scores: what match.ScoreFusion.zscore computes, on arrays."""
    return np.asarray(((a - norm_a[0]) / norm_a[1] + (b - norm_b[0]) / norm_b[1]) / 2.0, dtype=np.float64)

"""One-to-one matching: Euclidean distance between embeddings against a configured threshold.

The threshold is chosen from a target false-match rate on measured data (see config.py and
docs/face.md), never the library's default tolerance of 0.6.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bhytgate.face.embed import Embedding, as_embedding


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The decision with its evidence: auditors need the distance and the threshold it was held to."""

    distance: float
    threshold: float
    matched: bool


def distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    ea: Embedding = as_embedding(a)
    eb: Embedding = as_embedding(b)
    return float(np.linalg.norm(ea - eb))


def decide(dist: float, threshold: float) -> MatchResult:
    """Accept at or below the threshold; a NaN distance never matches."""
    matched = bool(np.isfinite(dist)) and dist <= threshold
    return MatchResult(distance=float(dist), threshold=float(threshold), matched=matched)


def match(probe: npt.ArrayLike, reference: npt.ArrayLike, threshold: float) -> MatchResult:
    return decide(distance(probe, reference), threshold)


# How a liveness burst's embedded frames (the best frontal frame and each head-turn peak) are matched
# against one reference. "min": the smallest distance of any of them; "mean": the mean of their
# distances; "best_frame": the best frontal frame alone (the single-frame rule). Chosen on
# evidence: docs/face.md, "Several live frames".
BURST_FUSIONS = ("min", "mean", "best_frame")


def fused_distance(frames: Sequence[npt.ArrayLike], reference: npt.ArrayLike, fusion: str) -> float:
    """One distance for several embeddings of the same live person against a reference.

    ``frames[0]`` must be the best frontal frame (what ``best_frame`` uses). ``min`` is never
    larger than ``best_frame`` (the best frame is among the frames), so it cannot lose a genuine
    match the single frame would make; what it costs is FMR, measured at the configured threshold.
    """
    if fusion not in BURST_FUSIONS:
        raise ValueError(f"fusion must be one of {BURST_FUSIONS}")
    if not frames:
        raise ValueError("no frames to match")
    ref: Embedding = as_embedding(reference)
    dists = [float(np.linalg.norm(as_embedding(f) - ref)) for f in frames]
    if fusion == "best_frame":
        return dists[0]
    if fusion == "min":
        return min(dists)
    return float(np.mean(dists))


def digests_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for digests and other values an attacker may probe byte by byte."""
    return hmac.compare_digest(a, b)

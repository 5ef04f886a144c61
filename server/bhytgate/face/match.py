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
from bhytgate.face.errors import InvalidEmbedding


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


def fuse_frames(distances: Sequence[float], fusion: str) -> float:
    """One distance from the per-frame distances of a burst, best frontal frame first.

    ``min`` is never larger than ``best_frame`` (the best frame is among the frames), so it cannot
    lose a genuine match the single frame would make; what it costs is FMR, measured at the
    configured threshold (docs/face.md).
    """
    if fusion not in BURST_FUSIONS:
        raise ValueError(f"fusion must be one of {BURST_FUSIONS}")
    if not distances:
        raise ValueError("no frames to match")
    if fusion == "best_frame":
        return float(distances[0])
    if fusion == "min":
        return float(min(distances))
    return float(np.mean(distances))


def fused_distance(frames: Sequence[npt.ArrayLike], reference: npt.ArrayLike, fusion: str) -> float:
    """Several embeddings of one live person (best frontal frame first) against a reference."""
    ref: Embedding = as_embedding(reference)
    return fuse_frames([float(np.linalg.norm(as_embedding(f) - ref)) for f in frames], fusion)


def cosine_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """1 - cosine similarity: the second matcher's (SFace) distance, in [0, 2]."""
    va, vb = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if va.shape != vb.shape or na <= 0 or nb <= 0 or not (np.isfinite(na) and np.isfinite(nb)):
        raise InvalidEmbedding("second-matcher embeddings must be non-zero, finite and of one size")
    return float(1.0 - np.dot(va, vb) / (na * nb))


@dataclass(frozen=True, slots=True)
class ScoreFusion:
    """Score-level fusion of dlib's distance with a second matcher's, on dlib's distance scale.

    Each distance becomes a z-score against its impostor distribution (mean, sd measured on the
    shared photos); the two are averaged; the average is mapped back so that the fused threshold
    ``z_threshold`` falls on the configured match threshold. One threshold then holds for fused and
    dlib-only matches (a template has only dlib's embedding), and the reported distance stays in
    dlib units near the decision.
    """

    dlib_mean: float
    dlib_sd: float
    second_mean: float
    second_sd: float
    z_threshold: float

    def zscore(self, dlib_distance: float, second_distance: float) -> float:
        return (
            (dlib_distance - self.dlib_mean) / self.dlib_sd
            + (second_distance - self.second_mean) / self.second_sd
        ) / 2.0

    def distance(self, dlib_distance: float, second_distance: float, threshold: float) -> float:
        return threshold + self.dlib_sd * (self.zscore(dlib_distance, second_distance) - self.z_threshold)


def digests_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for digests and other values an attacker may probe byte by byte."""
    return hmac.compare_digest(a, b)

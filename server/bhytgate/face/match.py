"""One-to-one matching: Euclidean distance between embeddings against a configured threshold.

The threshold is chosen from a target false-match rate on measured data (see config.py and
docs/face.md), never the library's default tolerance of 0.6.
"""

from __future__ import annotations

import hmac
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


def digests_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for digests and other values an attacker may probe byte by byte."""
    return hmac.compare_digest(a, b)

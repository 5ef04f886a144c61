"""Honest evaluation: every genuine and impostor pair, error rates with exact intervals, DET points.

Pure functions over labels and distances; the CLI (``bhytgate face eval``) does the I/O. Failures to
acquire are counted separately and their pairs left out of FMR/FNMR (ISO/IEC 19795-1 style), and the
false-reject rate including them is reported too.

Pairs share photos, so they are not independent trials: the binomial intervals below are narrower than
the truth. They are still the honest minimum to report next to a rate measured on a small set.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, pstdev


@dataclass(frozen=True, slots=True)
class LabelledPhoto:
    path: str
    identity: str


def parse_labels(text: str) -> list[LabelledPhoto]:
    """A ``path,identity`` CSV with that header; blank lines ignored, duplicates refused."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or {"path", "identity"} - set(reader.fieldnames):
        raise ValueError("labels CSV needs a 'path,identity' header")
    photos: list[LabelledPhoto] = []
    seen: set[str] = set()
    for row in reader:
        path, identity = (row.get("path") or "").strip(), (row.get("identity") or "").strip()
        if not path and not identity:
            continue
        if not path or not identity:
            raise ValueError(f"incomplete row on line {reader.line_num}")
        if path in seen:
            raise ValueError(f"duplicate path {path!r}")
        seen.add(path)
        photos.append(LabelledPhoto(path, identity))
    return photos


def form_pairs(identities: Sequence[str]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Every unordered pair of indices, split into genuine (same identity) and impostor."""
    genuine: list[tuple[int, int]] = []
    impostor: list[tuple[int, int]] = []
    for i, j in itertools.combinations(range(len(identities)), 2):
        (genuine if identities[i] == identities[j] else impostor).append((i, j))
    return genuine, impostor


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (fine for n up to ~10^6)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )
    return min(1.0, total)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (conservative) binomial interval for k errors in n trials, by bisection on the CDF."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    alpha = 1.0 - confidence

    def solve(target: float, kk: int) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = (lo + hi) / 2.0
            if _binom_cdf(kk, n, mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2.0

    lower = 0.0 if k == 0 else solve(1.0 - alpha / 2.0, k - 1)
    upper = 1.0 if k == n else solve(alpha / 2.0, k)
    return (lower, upper)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True, slots=True)
class Rates:
    threshold: float
    genuine_pairs: int
    impostor_pairs: int
    false_non_matches: int
    false_matches: int
    fnmr: float
    fmr: float
    fnmr_ci95: tuple[float, float]
    fmr_ci95: tuple[float, float]


def rates_at(threshold: float, genuine: Sequence[float], impostor: Sequence[float]) -> Rates:
    """Error rates when distance <= threshold is a match (the rule in match.decide)."""
    fnm = sum(1 for d in genuine if not d <= threshold)
    fm = sum(1 for d in impostor if d <= threshold)
    ng, ni = len(genuine), len(impostor)
    return Rates(
        threshold=threshold,
        genuine_pairs=ng,
        impostor_pairs=ni,
        false_non_matches=fnm,
        false_matches=fm,
        fnmr=fnm / ng if ng else 0.0,
        fmr=fm / ni if ni else 0.0,
        fnmr_ci95=clopper_pearson(fnm, ng),
        fmr_ci95=clopper_pearson(fm, ni),
    )


def empirical_threshold(impostor: Sequence[float], target_fmr: float) -> float:
    """The largest threshold whose measured FMR is at most the target (just under the k-th impostor)."""
    ordered = sorted(impostor)
    allowed = math.floor(target_fmr * len(ordered))
    if not ordered:
        return 0.0
    if allowed >= len(ordered):
        return ordered[-1]
    return math.nextafter(ordered[allowed], -math.inf)


def gaussian_tail_threshold(impostor: Sequence[float], target_fmr: float) -> float:
    """Extrapolation from a normal fit to the impostor distances; a cross-check, not a measurement."""
    if len(impostor) < 2:
        return 0.0
    return NormalDist(fmean(impostor), pstdev(impostor)).inv_cdf(target_fmr)


def det_points(genuine: Sequence[float], impostor: Sequence[float]) -> list[tuple[float, float, float]]:
    """(threshold, FMR, FNMR) at every distinct observed distance: the whole DET curve."""
    thresholds = sorted(set(genuine) | set(impostor))
    g, i = sorted(genuine), sorted(impostor)
    points: list[tuple[float, float, float]] = []
    gi = ii = 0
    for t in thresholds:
        while gi < len(g) and g[gi] <= t:
            gi += 1
        while ii < len(i) and i[ii] <= t:
            ii += 1
        fmr = ii / len(i) if i else 0.0
        fnmr = (len(g) - gi) / len(g) if g else 0.0
        points.append((t, fmr, fnmr))
    return points


def summarise(
    identities: Sequence[str],
    distances: Mapping[tuple[int, int], float],
    failures: Mapping[int, str],
    *,
    threshold: float,
    target_fmr: float,
) -> dict[str, object]:
    """The report: pairs among acquired photos, rates with intervals, FTA counted on its own."""
    genuine_all, impostor_all = form_pairs(identities)
    genuine = [distances[p] for p in genuine_all if p in distances]
    impostor = [distances[p] for p in impostor_all if p in distances]
    rates = rates_at(threshold, genuine, impostor)
    n = len(identities)
    lost_genuine = len(genuine_all) - len(genuine)
    frr = (rates.false_non_matches + lost_genuine) / len(genuine_all) if genuine_all else 0.0
    reasons: dict[str, int] = {}
    for reason in failures.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "photos": n,
        "identities": len(set(identities)),
        "genuine_pairs": rates.genuine_pairs,
        "impostor_pairs": rates.impostor_pairs,
        "genuine_pairs_labelled": len(genuine_all),
        "impostor_pairs_labelled": len(impostor_all),
        "threshold": threshold,
        "fnmr": rates.fnmr,
        "fmr": rates.fmr,
        "false_non_matches": rates.false_non_matches,
        "false_matches": rates.false_matches,
        "fnmr_ci95": list(rates.fnmr_ci95),
        "fmr_ci95": list(rates.fmr_ci95),
        "ci_method": "Clopper-Pearson exact binomial, 95%; pairs share photos, so optimistic",
        "failure_to_acquire": {
            "count": len(failures),
            "rate": len(failures) / n if n else 0.0,
            "rate_ci95": list(clopper_pearson(len(failures), n)),
            "reasons": dict(sorted(reasons.items())),
        },
        "frr_including_fta": frr,
        "target_fmr": target_fmr,
        "empirical_threshold_at_target_fmr": empirical_threshold(impostor, target_fmr) if impostor else None,
        "gaussian_tail_threshold_at_target_fmr": gaussian_tail_threshold(impostor, target_fmr),
        "genuine_distance": _stats(genuine),
        "impostor_distance": _stats(impostor),
    }


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "median": ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2.0,
        "max": ordered[-1],
        "mean": fmean(ordered),
        "sd": pstdev(ordered),
    }

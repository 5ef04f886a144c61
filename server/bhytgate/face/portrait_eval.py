"""Chip-portrait evaluation: a live photo against another photo's chip-style portrait.

Ordered pairs (reference i, probe j), i != j: the reference is the portrait variant of photo i (as
the gateway's `chip_embedding` reads a DG2), the probe the untouched photo j (as `analyze` reads a
live capture). Failures to acquire are counted per side and their pairs left out, as in
`evaluate.summarise`. Rates are reported at the configured threshold and at the threshold where the
measured FMR is at most the target (1e-3 by default), with exact intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bhytgate.face.evaluate import Rates, clopper_pearson, det_points, empirical_threshold, rates_at


def ordered_pairs(identities: Sequence[str]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Every (reference, probe) with reference != probe, split into genuine and impostor."""
    genuine: list[tuple[int, int]] = []
    impostor: list[tuple[int, int]] = []
    for i, a in enumerate(identities):
        for j, b in enumerate(identities):
            if i != j:
                (genuine if a == b else impostor).append((i, j))
    return genuine, impostor


def summarise_variant(
    identities: Sequence[str],
    distances: Mapping[tuple[int, int], float],
    reference_failures: Mapping[int, str],
    probe_failures: Mapping[int, str],
    *,
    threshold: float,
    target_fmr: float = 1e-3,
) -> dict[str, object]:
    genuine_all, impostor_all = ordered_pairs(identities)
    genuine = [distances[p] for p in genuine_all if p in distances]
    impostor = [distances[p] for p in impostor_all if p in distances]
    at_config = rates_at(threshold, genuine, impostor)
    t_target = empirical_threshold(impostor, target_fmr) if impostor else 0.0
    at_target = rates_at(t_target, genuine, impostor)
    n = len(identities)
    reasons: dict[str, int] = {}
    for reason in reference_failures.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    points = det_points(genuine, impostor)
    return {
        "references": n,
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "genuine_pairs_labelled": len(genuine_all),
        "fta_reference": {
            "count": len(reference_failures),
            "rate": len(reference_failures) / n if n else 0.0,
            "rate_ci95": list(clopper_pearson(len(reference_failures), n)),
            "reasons": dict(sorted(reasons.items())),
        },
        "fta_probe": len(probe_failures),
        "at_threshold": _rates(at_config),
        "target_fmr": target_fmr,
        "at_target_fmr": _rates(at_target),
        "det": [[round(t, 4), fmr, fnmr] for t, fmr, fnmr in _thin(points, 200)],
    }


def _rates(r: Rates) -> dict[str, object]:
    return {
        "threshold": r.threshold,
        "fnmr": r.fnmr,
        "fnmr_ci95": list(r.fnmr_ci95),
        "false_non_matches": r.false_non_matches,
        "fmr": r.fmr,
        "fmr_ci95": list(r.fmr_ci95),
        "false_matches": r.false_matches,
    }


def _thin(points: list[tuple[float, float, float]], keep: int) -> list[tuple[float, float, float]]:
    if len(points) <= keep:
        return points
    step = len(points) / keep
    return [points[int(i * step)] for i in range(keep)] + [points[-1]]

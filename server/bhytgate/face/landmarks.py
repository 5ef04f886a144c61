"""Pure geometry over dlib's 68-point landmarks (iBUG 300-W order): head yaw, eye aspect ratio.

Indices: jaw 0-16, brows 17-26, nose 27-35 (tip 30), the subject's right eye 36-41 (image left),
left eye 42-47, mouth 48-67.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Landmarks = npt.NDArray[np.float64]  # shape (68, 2): x, y in image pixels

JAW = slice(0, 17)
INNER = slice(17, 68)  # brows, nose, eyes, mouth: what the embedding depends on
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
NOSE_TIP = 30


def as_landmarks(points: npt.ArrayLike) -> Landmarks:
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape != (68, 2) or not np.all(np.isfinite(arr)):
        raise ValueError("expected 68 finite (x, y) landmarks")
    return arr


def eye_centres(lm: Landmarks) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return lm[RIGHT_EYE].mean(axis=0), lm[LEFT_EYE].mean(axis=0)


def interocular(lm: Landmarks) -> float:
    right, left = eye_centres(lm)
    return float(np.linalg.norm(left - right))


def yaw_proxy(lm: Landmarks) -> float:
    """Nose-tip offset from the eye midpoint along the eye line, over the inter-ocular distance.

    Positive when the nose is towards the image's right, i.e. the subject turned to their own left in
    an unmirrored camera image. Projecting on the eye line makes it insensitive to head roll; being a
    ratio, it does not change when a flat photo is tilted in front of the camera.
    """
    right, left = eye_centres(lm)
    axis = left - right
    dist = float(np.linalg.norm(axis))
    if dist <= 1e-6:
        return 0.0
    mid = (left + right) / 2.0
    return float(np.dot(lm[NOSE_TIP] - mid, axis / dist) / dist)


def _eye_ratio(eye: npt.NDArray[np.float64]) -> float:
    # points p1..p6 around the eye: corners p1, p4; upper lid p2, p3; lower lid p6, p5
    vertical = float(np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4]))
    horizontal = float(np.linalg.norm(eye[0] - eye[3]))
    return 0.0 if horizontal <= 1e-6 else vertical / (2.0 * horizontal)


def eye_aspect_ratio(lm: Landmarks) -> float:
    """Mean eye aspect ratio of both eyes (Soukupová & Čech 2016); falls towards 0 as the eyes close."""
    return (_eye_ratio(lm[RIGHT_EYE]) + _eye_ratio(lm[LEFT_EYE])) / 2.0


def inner_edge_margin(lm: Landmarks, width: int, height: int) -> float:
    """Smallest distance from an inner landmark to the frame edge, in inter-ocular distances.

    Negative when brows, eyes, nose or mouth fall outside the frame.
    """
    inner = lm[INNER]
    margin = min(
        float(inner[:, 0].min()),
        float(width - 1 - inner[:, 0].max()),
        float(inner[:, 1].min()),
        float(height - 1 - inner[:, 1].max()),
    )
    io = interocular(lm)
    return margin / io if io > 1e-6 else float("-inf")


def normalised_shape(lm: Landmarks) -> Landmarks:
    """Landmarks centred on the eye midpoint and scaled by the inter-ocular distance (motion measure)."""
    right, left = eye_centres(lm)
    io = float(np.linalg.norm(left - right))
    return (lm - (left + right) / 2.0) / (io if io > 1e-6 else 1.0)

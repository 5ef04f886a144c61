"""Face points from MediaPipe's Face Mesh and eye openness from its Iris model, on LiteRT.

This replaces dlib's 68-point predictor (trained on iBUG 300-W, no commercial use) on the request
path. The rest of the engine keeps speaking the 68-point layout (`landmarks.py`): the mesh's 468
points are mapped onto it by the mesh vertices that sit where the 68 points do, so yaw, the edge
margin and the motion measure keep their definitions. Measured on the 55 labelled photos against
dlib's 68 points: brows, eyes, nose and mouth within 0.05 inter-ocular distances on average, yaw
r = 0.97 at 0.87-0.90x the 68-point scale (docs/face.md, "Landmarks").

A blink needs the eyelids. The mesh's own eyelid points barely move when an eye is shut (on eyes
painted closed, its eye aspect ratio kept 0.80 of the open value; dlib's 68 points 0.97), so the
openness comes from the Iris model, which looks at each eye alone (a median 0.33 of open on the
same frames).

One instance per worker process (each model runs in a `LiteNet`, one call at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bhytgate.face.errors import FaceTooSmall, NoFace
from bhytgate.face.landmarks import LEFT_EYE, RIGHT_EYE, Landmarks
from bhytgate.face.litert import LiteNet
from bhytgate.face.mesh_models import FACE_MESH, IRIS, verified_bytes

Pixels = npt.NDArray[np.uint8]
# A worker process is one core's worth of face work (litert.py): OpenCV's own thread pool would
# spread a warp over every core and make the floor look cheaper than its CPU time.
cv2.setNumThreads(1)

# Mesh vertex for each of the 68 points (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).
# The jaw line of the mesh is its face oval, not iBUG's jaw: nothing here measures the jaw.
_JAW = (127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356)
_BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
_NOSE = (168, 197, 5, 4, 75, 97, 2, 326, 305)
_EYES = (33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380)
_MOUTH = (61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87)
MESH_TO_68 = (*_JAW, *_BROWS, *_NOSE, *_EYES, *_MOUTH)
MESH_INPUT = 192
IRIS_INPUT = 64
# Where the mesh looks, in inter-ocular distances of dlib's 5 points: the medians, over the 55
# labelled photos, of the square MediaPipe's own tracking would place (1.5 x the extent of the mesh
# points; below the eye midpoint 0.47 +/- 0.04, side 3.84 +/- 0.21).
ROI_BELOW_EYES = 0.47
ROI_SIDE = 3.84
# The Iris model looks at a square of this many eye widths around each eye (MediaPipe's own value).
EYE_ROI_SCALE = 2.3
# Iris contour points: 0 and 8 the eye corners, 1-7 the lower lid, 9-15 the upper lid. The pairs
# above one another (mesh points 160/144, 159/145, 158/153 on MediaPipe's own index table) give
# the opening.
_LID_PAIRS = ((11, 3), (12, 4), (13, 5))
# The mesh's face-presence output is a logit: >= 8.7 on every labelled face, about -11 on noise and
# on a flat grey image. Below 0 the points describe no face.
MIN_FACE_SCORE = 0.0


@dataclass(frozen=True, slots=True)
class MeshFace:
    """The 68-point layout and the square the mesh looked at (its four corners, image pixels)."""

    landmarks: Landmarks
    square: npt.NDArray[np.float64]


def _warp(
    pixels: Pixels,
    centre: npt.NDArray[np.float64],
    side: float,
    angle: float,
    size: int,
    *,
    flip: bool = False,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A size x size upright square of `side` pixels around `centre`, as floats in [0, 1]; black
    where it leaves the picture. OpenCV's bilinear warp, not Pillow's: 0.08 against 0.8 ms for the
    mesh's 192 x 192 (the same pixels within 3 grey levels, except where the square leaves the picture).

    Returns the image and the affine map (A, offset) from its pixels to the source's.
    """
    k = side / size
    c, s = np.cos(angle), np.sin(angle)
    a = np.array([[c * k, -s * k], [s * k, c * k]])
    if flip:
        a = a @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    offset = centre - a @ np.array([size / 2.0, size / 2.0])
    # OpenCV's map is from output pixel to source pixel, both with integer centres; A and offset
    # above map continuous coordinates (corners at integers), hence the half-pixel shifts.
    shift = a @ np.array([0.5, 0.5]) + offset - 0.5
    matrix = np.hstack([a, shift[:, None]])
    image = cv2.warpAffine(
        pixels,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return image.astype(np.float32) * np.float32(1.0 / 255.0), a, offset


class MeshLandmarker:
    """Face Mesh + Iris, loaded once per worker process (about 4 MB of models)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._mesh = LiteNet(verified_bytes(FACE_MESH, directory))
        self._iris = LiteNet(verified_bytes(IRIS, directory))

    def _points(self, pixels: Pixels, centre: npt.NDArray[np.float64], side: float, angle: float) -> MeshFace:
        image, a, offset = _warp(pixels, centre, side, angle, MESH_INPUT)
        out = self._mesh.run(image)
        score = next(v for v in out.values() if v.size == 1).reshape(-1)[0]
        if not float(score) >= MIN_FACE_SCORE:  # also refuses NaN
            raise NoFace("no face where the detector found one")
        mesh = next(v for v in out.values() if v.size == 468 * 3).reshape(468, 3)[:, :2]
        points = (a @ mesh.astype(np.float64).T).T + offset
        if not np.all(np.isfinite(points)):
            raise NoFace("no face where the detector found one")
        corners = np.array([[0, 0], [MESH_INPUT, 0], [MESH_INPUT, MESH_INPUT], [0, MESH_INPUT]], np.float64)
        square = (a @ corners.T).T + offset
        return MeshFace(np.ascontiguousarray(points[list(MESH_TO_68)], dtype=np.float64), square)

    def landmarks(self, pixels: Pixels, points5: npt.NDArray[np.float64]) -> MeshFace:
        """The 68-point layout for the face dlib's 5 points were found on, in `pixels`' coordinates.

        The mesh looks at a square placed by dlib's 5 points, not by the box: centred
        ROI_BELOW_EYES inter-ocular distances below the eye midpoint, ROI_SIDE of them wide, upright
        along the eye line. The 5 points hardly move when the box does, so neither do the mesh's:
        with the box shifted and scaled by up to 10%, the yaw moved by a median 0.003 (at most 0.010),
        against 0.014 (0.053) for a square placed by the box, and 0.008 (0.015) for MediaPipe's
        second pass on its own points, at twice the cost.
        """
        one, other = points5[0:2].mean(axis=0), points5[2:4].mean(axis=0)
        left, right = (one, other) if one[0] < other[0] else (other, one)
        io = float(np.linalg.norm(right - left))
        angle = float(np.arctan2(right[1] - left[1], right[0] - left[0]))
        down = np.array([-np.sin(angle), np.cos(angle)])  # image "down", turned with the eye line
        centre = (left + right) / 2.0 + ROI_BELOW_EYES * io * down
        if io < 1.0:
            raise FaceTooSmall("eyes too close together to place the face")
        return self._points(pixels, centre, ROI_SIDE * io, angle)

    def _eye_ratio(
        self, pixels: Pixels, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], *, mirror: bool
    ) -> float:
        """Opening of the eye between corners `a` (image left) and `b` (image right)."""
        width = float(np.linalg.norm(b - a))
        if width <= 1.0:
            raise FaceTooSmall("eye too small to measure its opening")  # never "closed"
        d = b - a
        # The model sees the eye on the image's left (the subject's right) as it is, with its outer
        # corner first; the other eye is mirrored into that orientation (MediaPipe does the same).
        image, _a, _offset = _warp(
            pixels,
            (a + b) / 2.0,
            EYE_ROI_SCALE * width,
            float(np.arctan2(d[1], d[0])),
            IRIS_INPUT,
            flip=mirror,
        )
        out = self._iris.run(image)
        contour = next(v for v in out.values() if v.size == 71 * 3).reshape(71, 3)[:, :2]
        span = float(np.linalg.norm(contour[0] - contour[8]))
        if not span > 1e-6:
            raise FaceTooSmall("eye too small to measure its opening")
        opening = float(np.mean([np.linalg.norm(contour[u] - contour[lo]) for u, lo in _LID_PAIRS]))
        if not np.isfinite(opening):
            raise FaceTooSmall("eye too small to measure its opening")
        return opening / span

    def eye_openness(self, pixels: Pixels, lm: Landmarks) -> float:
        """Mean lid opening over eye width of both eyes; falls as the eyes close (blink measure)."""
        right, left = lm[RIGHT_EYE], lm[LEFT_EYE]
        # 68 layout, unmirrored image: the right eye runs 36 (outer) to 39 (inner) from the image's
        # left, the left eye 42 (inner) to 45 (outer).
        opening_right = self._eye_ratio(pixels, right[0], right[3], mirror=False)
        return (opening_right + self._eye_ratio(pixels, left[0], left[3], mirror=True)) / 2.0

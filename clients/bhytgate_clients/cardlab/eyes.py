"""Closed eyes painted onto a real photo: the simulated camera's blink.

Photos have open eyes. For a blink the camera shows the same photo with both eyes painted shut: an
ellipse of the surrounding skin over each eye and a dark lash line along the closed lid, placed by
the gateway's own face points. It is a lab stand-in, not a model of a real blink: on the 55 labelled
photos (framed) the Iris model's eye opening falls to a median 0.33 of open (0.68 at most) on these frames,
and a real closed eye has not been measured here (docs/face.md, "Blink").
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

_LASH = (45, 35, 35)


def _skin(pixels: npt.NDArray[np.uint8], point: npt.NDArray[np.float64]) -> tuple[int, int, int]:
    height, width = pixels.shape[:2]
    x = int(np.clip(point[0], 2, width - 3))
    y = int(np.clip(point[1], 2, height - 3))
    r, g, b = pixels[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).mean(axis=0)
    return int(r), int(g), int(b)


def close_eyes(photo: bytes, landmarks: npt.NDArray[np.float64]) -> bytes:
    """The photo (any format Pillow reads) as PNG with both eyes shut; `landmarks` in the 68 layout."""
    with Image.open(io.BytesIO(photo)) as img:
        face = img.convert("RGB")
    pixels = np.asarray(face)
    draw = ImageDraw.Draw(face)
    for eye in (landmarks[36:42], landmarks[42:48]):
        corners = sorted((eye[0], eye[3]), key=lambda p: float(p[0]))
        width = float(np.linalg.norm(corners[1] - corners[0]))
        centre = eye.mean(axis=0)
        below = _skin(pixels, centre + np.array([0.0, 0.55 * width]))
        above = _skin(pixels, centre - np.array([0.0, 0.45 * width]))
        skin = tuple((a + b) // 2 for a, b in zip(below, above, strict=True))
        rx, ry = 0.62 * width, 0.30 * width
        draw.ellipse([centre[0] - rx, centre[1] - ry, centre[0] + rx, centre[1] + ry], fill=skin)
        xs = np.linspace(corners[0][0], corners[1][0], 12)
        ys = np.linspace(corners[0][1], corners[1][1], 12) + 0.12 * width * np.sin(np.linspace(0, np.pi, 12))
        draw.line(
            list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=_LASH, width=max(1, round(0.05 * width))
        )
    out = io.BytesIO()
    face.save(out, "PNG")
    return out.getvalue()

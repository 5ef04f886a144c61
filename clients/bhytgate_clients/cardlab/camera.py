"""A simulated terminal camera for demos, tests and load runs.

Real cameras never send the same bytes twice, and the gateway rejects frames it has seen before
(exact bytes, or a near-duplicate by perceptual hash). This camera stands a person's real photos in
front of a fresh "scene": each capture places the photo on a canvas whose border is a random
low-frequency pattern, so two captures of one photo are different frames while the face itself is
untouched. For a liveness challenge it picks, among the person's photos, those whose measured head
yaw performs the requested turns. For a blink it shows the neutral photo with its eyes painted shut
(`eyes.py`), a lab stand-in for a real blink.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from bhytgate_clients.cardlab.eyes import close_eyes
from bhytgate_clients.sdk.results import Frame

_YAW_CACHE: dict[tuple[str, int, bool], float] = {}
# A turn frame must clear the turn threshold by this factor, a neutral frame stay within a third of
# it, or the shot is retaken (at most RETAKES times).
RETAKE_FACTOR = 1.15
RETAKES = 6


class CameraError(ValueError):
    """The photos cannot perform what the challenge asks (e.g. no photo turned left)."""


def _scene(size: tuple[int, int], rng: random.Random, cells: int = 10) -> Image.Image:
    """A random high-contrast block pattern. Measured: two captures of one photo on such scenes
    differ by >= 52 of the 256 perceptual-hash bits (median ~100) over 3,000+ pairs, far from the
    gateway's near-duplicate limit (24), so a reused photo never looks like a replayed frame."""
    grid = Image.new("L", (cells, cells))
    grid.putdata(
        [rng.choice((0, 255)) if rng.random() < 0.5 else rng.randrange(256) for _ in range(cells * cells)]
    )
    return Image.merge("RGB", [grid, grid, grid]).resize(size, Image.Resampling.NEAREST)


def capture(photo: bytes, rng: random.Random, *, margin: float = 0.3, quality: int = 92) -> bytes:
    """The photo on a fresh random scene, as a camera's JPEG."""
    with Image.open(io.BytesIO(photo)) as img:
        face = img.convert("RGB")
    w, h = face.size
    canvas = _scene((int(w * (1 + 2 * margin)), int(h * (1 + 2 * margin))), rng)
    canvas.paste(face, (int(w * margin), int(h * margin)))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=quality)
    return out.getvalue()


class SimulatedCamera:
    def __init__(self, photos: Sequence[Path], *, seed: int | None = None, scene: bool = True) -> None:
        if not photos:
            raise CameraError("the camera needs at least one photo")
        self.photos = [Path(p) for p in photos]
        self.rng = random.Random(seed)
        self.scene = scene
        self._engine = None

    def _shoot(self, path: Path) -> bytes:
        data = path.read_bytes()
        return capture(data, self.rng) if self.scene else data

    def single(self, timestamp_ms: int) -> list[Frame]:
        """One fresh frame of the first photo (a staffed desk)."""
        return [Frame(self._shoot(self.photos[0]), timestamp_ms)]

    def _measured(self, path: Path) -> object:
        """The photo measured as the camera sends it: on a scene (fixed, so the result is repeatable),
        since the face points, and so the yaw, shift a little with what surrounds a small photo."""
        if self._engine is None:
            from bhytgate.face import FaceEngine

            self._engine = FaceEngine()  # type: ignore[assignment]
        assert self._engine is not None
        data = path.read_bytes()
        shot = capture(data, random.Random(0)) if self.scene else data
        return self._engine.measure_frame(shot, 0, whole_face=self.scene)  # type: ignore[attr-defined]

    def _frame_yaw(self, shot: bytes) -> float:
        """The yaw the gateway would measure on this frame; NaN if it would refuse the frame."""
        from bhytgate.face import FaceError

        if self._engine is None:
            self._measured(self.photos[0])
        try:
            return float(self._engine.measure_frame(shot, 0).yaw)  # type: ignore[attr-defined]
        except FaceError:
            return float("nan")

    def _retake(self, photo: Path, good: Callable[[float], bool]) -> bytes:
        """A capture whose measured yaw does what the sequence needs, retaken a few times if not.

        Each capture stands the photo on a new random scene, and on a 150 px photo the scene moves
        the measured yaw by ~0.02: a turn that clears the threshold by less would be missed at
        random. An operator would retake the shot; so does the camera (at most RETAKES times, then
        it sends the last one)."""
        shot = self._shoot(photo)
        for _ in range(RETAKES if self.scene else 0):
            if good(self._frame_yaw(shot)):
                break
            shot = self._shoot(photo)
        return shot

    def _yaw(self, path: Path) -> float:
        key = (str(path.resolve()), path.stat().st_mtime_ns, self.scene)
        if key not in _YAW_CACHE:
            _YAW_CACHE[key] = self._measured(path).yaw  # type: ignore[attr-defined]
        return _YAW_CACHE[key]

    def _shut(self, path: Path) -> bytes:
        """A fresh capture of the photo with its eyes painted shut."""
        if self._engine is None:
            self._measured(path)
        data = path.read_bytes()
        points = self._engine.measure_frame(data, 0, whole_face=False).landmarks  # type: ignore[attr-defined]
        shut = close_eyes(data, points)
        return capture(shut, self.rng) if self.scene else shut

    def burst(
        self,
        actions: Sequence[str],
        *,
        start_ms: int,
        step_ms: int = 60,
        delta: float = 0.10,
        realtime: bool = True,
    ) -> list[Frame]:
        """Frames that perform `actions` ("TURN_LEFT", "TURN_RIGHT", "BLINK"; any case) in order.

        Timestamps start at `start_ms`; with `realtime` the call returns only once the last frame's
        time has passed, as a real capture would (the gateway refuses frames from the future)."""
        yaws = {p: self._yaw(p) for p in self.photos}
        wanted = {a.lower() for a in actions}
        unknown = wanted - {"turn_left", "turn_right", "blink"}
        if unknown:
            raise CameraError(f"the simulated camera cannot perform {sorted(unknown)}")
        highest, lowest = max(yaws.values()), min(yaws.values())

        def margin(p: Path) -> float:
            room = []
            if "turn_left" in wanted:
                room.append(highest - yaws[p])
            if "turn_right" in wanted:
                room.append(yaws[p] - lowest)
            return min(room) if room else 1.0

        # The neutral frame: the one leaving most room for every requested turn, then the most frontal.
        base = max(self.photos, key=lambda p: (round(margin(p), 2), -abs(yaws[p])))
        if margin(base) < delta * 1.05:
            raise CameraError(
                f"the photos' head yaws ({lowest:.2f}..{highest:.2f}) cannot perform {list(actions)}"
            )
        first = self._shoot(base)
        base_yaw = self._frame_yaw(first)
        shots: list[bytes] = [first]
        for action in actions:
            if action.lower() == "turn_left":
                photo = max(self.photos, key=lambda p: yaws[p])
                shots.append(self._retake(photo, lambda y: y - base_yaw >= RETAKE_FACTOR * delta))
            elif action.lower() == "turn_right":
                photo = min(self.photos, key=lambda p: yaws[p])
                shots.append(self._retake(photo, lambda y: base_yaw - y >= RETAKE_FACTOR * delta))
            else:  # a blink: eyes shut, then open again, facing the camera
                shots += [self._shut(base), self._retake(base, lambda y: abs(y - base_yaw) < delta / 3)]
        shots.append(self._retake(base, lambda y: abs(y - base_yaw) < delta / 3))
        frames = [Frame(shot, start_ms + i * step_ms) for i, shot in enumerate(shots)]
        if realtime:
            wait = (frames[-1].timestamp_ms + 1) / 1000 - time.time()
            if wait > 0:
                time.sleep(wait)
        return frames

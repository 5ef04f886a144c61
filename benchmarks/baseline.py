"""The baseline: the face pipeline a developer writes first with face_recognition, behind our gateway.

As the library's examples do, on every request:
- decode each image in full (`face_recognition.load_image_file`: PIL, RGB, whole resolution);
- detect at the library defaults (`face_locations`: HOG, upsampled once, on the full image);
- encode the chip photo *and* the live frame(s) (`face_encodings`: 5-point alignment, 1 jitter), with
  no cache of the chip photo's encoding;
- compare by Euclidean distance at the gateway's threshold.

A liveness burst needs 68 landmarks per frame for the head turns; the first-draft code gets them from
`face_recognition` on the full image too, and encodes every frame. The *decision* (the turns, their
order, one person throughout, not the chip photo) reuses the gateway's own rules
(`bhytgate.face.liveness.verify_challenge`), so both pipelines decide the same way and only the image
work differs. Everything else (gRPC, chip, database, policy) is the same gateway: the function plugs
into `FacePool(job_fn=...)`, so it must stay module-level (it is pickled to the worker processes).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import time
from typing import Any

import numpy as np
from PIL import Image

from bhytgate.face import FaceEngine, FaceError
from bhytgate.face.detect import Box
from bhytgate.face.errors import MultipleFaces, NoFace
from bhytgate.face.liveness import (
    Action,
    Challenge,
    FrameFingerprint,
    FrameMeasurement,
    measurement,
    perceptual_hash,
    verify_challenge,
)
from bhytgate.service.workers import FaceJob, FaceOutcome, _CollectingStore

# Does our pipeline fingerprint single desk frames too (so the gateway checks them for near-replays)?
# Then the baseline does the same, to keep the main process's work identical.
_DESK_FINGERPRINTS = "fingerprint" in inspect.signature(FaceEngine.analyze).parameters

_CAPTURE_REASONS = ("no_face", "multiple_faces", "face_too_small", "face_cut_off", "too_blurred")


def _fr() -> Any:
    import face_recognition  # loads its own copy of dlib's models, once per worker process

    return face_recognition


class _NaiveFace:
    """One image through the first-draft pipeline; raises FaceError when there is not exactly one face."""

    def __init__(self, data: bytes, timings: dict[str, float], *, landmarks68: bool = False) -> None:
        fr = _fr()
        t0 = time.perf_counter()
        self.pixels = fr.load_image_file(io.BytesIO(data))
        t1 = time.perf_counter()
        locations = fr.face_locations(self.pixels)  # HOG, number_of_times_to_upsample=1
        t2 = time.perf_counter()
        _add(timings, "decode", t1 - t0)
        _add(timings, "detect", t2 - t1)
        if not locations:
            raise NoFace("no face found")
        if len(locations) > 1:
            raise MultipleFaces(f"{len(locations)} faces found")
        self.location = locations[0]
        top, right, bottom, left = self.location
        self.box = Box(left, top, right, bottom)
        self.landmarks: np.ndarray[Any, Any] | None = None
        if landmarks68:
            t3 = time.perf_counter()
            shape = fr.api._raw_face_landmarks(self.pixels, [self.location], model="large")[0]
            self.landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            _add(timings, "landmarks", time.perf_counter() - t3)
        t4 = time.perf_counter()
        self.encoding = np.asarray(fr.face_encodings(self.pixels, [self.location])[0], dtype=np.float64)
        _add(timings, "embed", time.perf_counter() - t4)


def _fingerprint(data: bytes, pixels: np.ndarray[Any, Any]) -> tuple[bytes, bytes]:
    """What the gateway's replay check needs from each frame (the same computation as the engine's)."""
    gray = Image.fromarray(pixels).convert("L").resize((64, 64), Image.Resampling.BOX)
    return hashlib.sha256(data).digest(), perceptual_hash(np.asarray(gray, dtype=np.float64))


def _add(timings: dict[str, float], key: str, seconds: float) -> None:
    timings[key] = timings.get(key, 0.0) + seconds * 1000.0


def baseline_face_job(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    """Same contract as `bhytgate.service.workers.run_face_job`; `engine` only lends its config."""
    timings: dict[str, float] = {}
    threshold = engine.config.match_threshold
    chip_encoding = None
    if job.chip_image is not None:
        start = time.perf_counter()
        try:
            chip_encoding = _NaiveFace(job.chip_image, {}).encoding
        except FaceError as exc:
            return FaceOutcome(
                reference_failure=exc.reason, capture_detail="chip photo unusable", timings=timings
            )
        except Exception:
            return FaceOutcome(reference_failure="undecodable", timings=timings)
        timings["chip_photo"] = (time.perf_counter() - start) * 1000
    if job.enrol or job.template is not None:
        raise NotImplementedError("the baseline covers chip verification only")
    if job.liveness is not None:
        spec = job.liveness
        challenge = Challenge(
            nonce=spec.nonce,
            actions=tuple(Action(a) for a in spec.actions),
            issued_at_ms=spec.issued_at_ms,
            expires_at_ms=spec.expires_at_ms,
        )
        store = _CollectingStore()
        start = time.perf_counter()
        try:
            faces = []
            measured: list[FrameMeasurement] = []
            for data, ts in job.frames:
                face = _NaiveFace(data, timings, landmarks68=True)
                assert face.landmarks is not None
                sha, phash = _fingerprint(data, face.pixels)
                measured.append(measurement(ts, FrameFingerprint(sha, phash), face.landmarks, face.box))
                faces.append(face)
            evidence = verify_challenge(
                challenge,
                measured,
                now_ms=job.now_ms,
                store=store,
                config=engine.config.liveness,
                embed=lambda idx: [faces[i].encoding for i in idx],
                card_embedding=chip_encoding,
            )
        except FaceError as exc:
            timings["liveness"] = (time.perf_counter() - start) * 1000
            if exc.reason in _CAPTURE_REASONS:
                return FaceOutcome(capture_failure=exc.reason, capture_detail=str(exc), timings=timings)
            return FaceOutcome(
                liveness_ok=False, liveness_failure=exc.reason, capture_detail=str(exc), timings=timings
            )
        timings["liveness"] = (time.perf_counter() - start) * 1000
        probe = np.asarray(evidence.live_embedding, dtype=np.float64)
        fingerprints = tuple((f.sha256, f.phash) for f in store.fingerprints)
        liveness_ok: bool | None = True
    else:
        try:
            face = _NaiveFace(job.frames[0][0], timings)
        except FaceError as exc:
            return FaceOutcome(capture_failure=exc.reason, capture_detail=str(exc), timings=timings)
        probe = face.encoding
        fingerprints = (_fingerprint(job.frames[0][0], face.pixels),) if _DESK_FINGERPRINTS else ()
        liveness_ok = None
    chip_distance = float(np.linalg.norm(probe - chip_encoding)) if chip_encoding is not None else None
    return FaceOutcome(
        chip_distance=chip_distance,
        threshold=threshold,
        liveness_ok=liveness_ok,
        fingerprints=fingerprints,
        timings=timings,
    )

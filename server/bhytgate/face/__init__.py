"""Face side of the gateway: decode, detect, gate, embed, match, template, liveness challenge.

A pure library with no gRPC in it; the gateway composes it. On face_recognition 1.3.0's dlib models
(HOG detector, 5-point predictor, 128-d ResNet embedding) and MediaPipe's Face Mesh and Iris models
for face points and eye opening (mesh.py; dlib's 68-point model only if chosen). The CNN detector is
never used.

Interface for the gateway (one :class:`FaceEngine` per worker process; it loads the models once)::

    from bhytgate.face import FaceEngine, FaceConfig, FaceError, InMemoryFrameStore, issue_challenge

    engine = FaceEngine(FaceConfig())                     # ~1.5 s: loads the dlib models
    chip = engine.chip_embedding(dg2_image_bytes)         # cached by SHA-256 of the DG2 image bytes
    analysis = engine.analyze(photo_bytes)                # FaceAnalysis or raises FaceError
    result = engine.match(analysis.embedding, chip)       # MatchResult(distance, threshold, matched)

    challenge = issue_challenge(now_ms, engine.config.liveness)   # keep server-side, use once
    evidence = engine.verify_liveness(
        challenge, [(frame_bytes, timestamp_ms), ...], now_ms=now_ms, store=frame_store,
        card_embedding=chip, device_key=key_or_None, signature=sig_or_None,
    )                                                     # LivenessEvidence or raises LivenessError
    result = engine.match_burst(evidence, chip)           # every embedded frame, fused (min distance)

    template = engine.enrol([capture1, capture2, capture3])       # counter enrolment
    stored = template_to_bytes(template)
    template = template_from_bytes(stored, expected_model=engine.model_id)  # refuses another model

Every refusal is a :class:`FaceError` subclass whose ``reason`` is a stable string
(:data:`ALL_REASONS` lists them): ``image_empty``, ``image_too_large``, ``image_truncated``,
``image_corrupt``, ``unsupported_format``; ``no_face``, ``multiple_faces``, ``face_too_small``,
``face_cut_off``, ``too_blurred``, ``too_dark``, ``pose_too_far``; ``invalid_embedding``,
``template_corrupt``, ``template_model_mismatch``, ``template_inconsistent``; and the liveness reasons
``liveness_bad_request``, ``liveness_bad_frame`` (with ``frame_index`` and ``frame_reason``),
``liveness_expired``, ``liveness_outside_window``, ``liveness_bad_signature``,
``liveness_frame_replayed``, ``liveness_static``, ``liveness_discontinuous``, ``liveness_missing_action``,
``liveness_wrong_order``, ``liveness_unexpected_action``, ``liveness_identity_changed``,
``liveness_card_photo``.

Costs on a 2-core machine, one thread (benchmarks/face_embed.py): HOG detection on a <= 640 px copy
~2-50 ms, face points ~4-5 ms (5 points + one mesh inference; the Iris model adds ~3 ms when a
blink is asked), one embedding ~4-5 ms on onnxruntime (resnet_onnx.py; ~14 ms on dlib's
OpenBLAS build, ~85-100 ms on dlib-bin). A liveness check measures every frame (detection +
landmarks) and embeds 1 + (number of head turns) frames, in one batch; the card match fuses them
(``FaceConfig.burst_fusion``). ``FaceConfig.second_matcher = "sface"`` adds SFace, fused with dlib at
score level (off by default: docs/face.md, "Second matcher: SFace").

The liveness check is a *liveness challenge*, not certified presentation-attack detection: it does
not stop a live deepfake through an unattested camera, or a 3-D mask. Nothing here logs images,
embeddings or personal data.
"""

from __future__ import annotations

from bhytgate.face.analysis import FaceAnalysis, StageTimings
from bhytgate.face.config import FaceConfig, LivenessConfig
from bhytgate.face.decode import DecodedImage, decode_image
from bhytgate.face.detect import Box, Quality
from bhytgate.face.embed import Embedding, ModelId
from bhytgate.face.engine import FaceEngine
from bhytgate.face.errors import ALL_REASONS, FaceError, LivenessError
from bhytgate.face.liveness import (
    Action,
    Challenge,
    DeviceKey,
    FrameFingerprint,
    FrameMeasurement,
    FrameStore,
    InMemoryFrameStore,
    LivenessEvidence,
    issue_challenge,
    load_device_key,
    signing_payload,
    verify_challenge,
)
from bhytgate.face.match import MatchResult, decide, match
from bhytgate.face.template import Template, build_template, template_from_bytes, template_to_bytes

__all__ = [
    "ALL_REASONS",
    "Action",
    "Box",
    "Challenge",
    "DecodedImage",
    "DeviceKey",
    "Embedding",
    "FaceAnalysis",
    "FaceConfig",
    "FaceEngine",
    "FaceError",
    "FrameFingerprint",
    "FrameMeasurement",
    "FrameStore",
    "InMemoryFrameStore",
    "LivenessConfig",
    "LivenessError",
    "LivenessEvidence",
    "MatchResult",
    "ModelId",
    "Quality",
    "StageTimings",
    "Template",
    "build_template",
    "decide",
    "decode_image",
    "issue_challenge",
    "load_device_key",
    "match",
    "signing_payload",
    "template_from_bytes",
    "template_to_bytes",
    "verify_challenge",
]

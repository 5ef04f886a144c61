"""What the flow found, as the policy's `CheckResults`: the credential's evidence, the face
worker's outcome, the replay check and the entitlement answer. Pure."""

from __future__ import annotations

from bhytgate.entitlement.validity import EntitlementCheck
from bhytgate.policy.model import CheckResults, DocumentSource, FaceMatch, Reason
from bhytgate.service import reasons as vocab
from bhytgate.service.config import GatewayConfig
from bhytgate.service.credentials import Evidence
from bhytgate.service.model import VerifyInput
from bhytgate.service.workers import FaceOutcome, LivenessSpec


def check_results(
    config: GatewayConfig,
    ev: Evidence,
    face: FaceOutcome,
    liveness: LivenessSpec | None,
    replay: Reason | None,
    ent_check: EntitlementCheck | None,
    inp: VerifyInput,
) -> CheckResults:
    threshold = face.threshold if face.threshold is not None else config.face.match_threshold

    def as_match(distance: float | None) -> FaceMatch | None:
        return None if distance is None else FaceMatch(distance, threshold, distance <= threshold)

    capture = face.capture_failure or face.reference_failure
    face_failure = None if capture is None else vocab.FACE_CAPTURE_REASONS.get(capture, "POOR_FACE_QUALITY")
    liveness_ok, liveness_failure = face.liveness_ok, face.liveness_failure
    if replay is not None:
        liveness_ok, liveness_failure = False, "liveness_frame_replayed"
    elif (
        liveness is None
        and face.chip_distance is not None
        and face.chip_distance < config.face.liveness.card_photo_min_distance
    ):
        liveness_ok, liveness_failure = False, "liveness_card_photo"
    return CheckResults(
        document_source=ev.source,
        chip_passive_ok=(ev.report.passive.valid if ev.report is not None else None),
        aa_ok=ev.aa_ok,
        challenge_ok=True,
        document_expired=ev.document_expired,
        face_failure_code=face_failure,
        face_failure_on_chip=face.capture_failure is None and face.reference_failure is not None,
        face_match=as_match(face.chip_distance) if ev.source is DocumentSource.CHIP else None,
        template_match=as_match(face.template_distance),
        liveness_ok=liveness_ok,
        liveness_failure=liveness_failure,
        operator=inp.operator.full_name if inp.operator else None,
        # 001/002 (army/police funds): not refused, but a person checks the papers (REVIEW)
        entitlement_usable=(ent_check.usable or ent_check.needs_review) if ent_check is not None else False,
        ma_ket_qua=(ent_check.ma_ket_qua.value if ent_check is not None else None),
    )

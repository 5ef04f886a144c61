"""Typed failures of the face pipeline, each with a stable machine-readable ``reason``.

The gateway maps ``reason`` onto its wire codes and metrics, so these strings are an interface:
add new ones, never rename. Messages must not carry personal data (no pixels, no embeddings).
"""

from __future__ import annotations

from typing import ClassVar


class FaceError(Exception):
    """Base of every refusal the face library makes; ``reason`` is stable, ``str()`` is for humans."""

    reason: ClassVar[str] = "face_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.reason)


# --- decoding -------------------------------------------------------------------------------------


class ImageError(FaceError):
    reason = "image_error"


class ImageEmpty(ImageError):
    reason = "image_empty"


class ImageTooLarge(ImageError):
    """The declared size (bytes or pixels) exceeds the budget; refused before decoding."""

    reason = "image_too_large"


class ImageTruncated(ImageError):
    reason = "image_truncated"


class ImageCorrupt(ImageError):
    reason = "image_corrupt"


class UnsupportedFormat(ImageError):
    reason = "unsupported_format"


# --- detection and quality gate -------------------------------------------------------------------


class QualityError(FaceError):
    reason = "quality_error"


class NoFace(QualityError):
    reason = "no_face"


class MultipleFaces(QualityError):
    reason = "multiple_faces"


class FaceTooSmall(QualityError):
    reason = "face_too_small"


class FaceCutOff(QualityError):
    reason = "face_cut_off"


class TooBlurred(QualityError):
    reason = "too_blurred"


class TooDark(QualityError):
    """Under the blur gate because the face is underexposed, not because it is blurred: the
    Laplacian's variance falls with the square of the contrast, so a sharp face in a dark room
    read as blurred and the holder was told to hold still instead of to add light."""

    reason = "too_dark"


class PoseTooFar(QualityError):
    reason = "pose_too_far"


# --- embeddings and templates ---------------------------------------------------------------------


class InvalidEmbedding(FaceError):
    reason = "invalid_embedding"


class TemplateCorrupt(FaceError):
    reason = "template_corrupt"


class TemplateModelMismatch(FaceError):
    """The template was made by another model (or model file); re-enrol instead of comparing."""

    reason = "template_model_mismatch"


class TemplateInconsistent(FaceError):
    """Enrolment captures do not agree with each other (two people, or a bad capture)."""

    reason = "template_inconsistent"


# --- liveness challenge ---------------------------------------------------------------------------


class LivenessError(FaceError):
    reason = "liveness_failed"


class LivenessBadRequest(LivenessError):
    """Malformed burst: no frames, too many, or timestamps not strictly increasing."""

    reason = "liveness_bad_request"


class LivenessBadFrame(LivenessError):
    """A frame failed decoding or the per-frame face check; ``frame_reason`` says which."""

    reason = "liveness_bad_frame"

    def __init__(self, message: str = "", *, frame_index: int = -1, frame_reason: str = "") -> None:
        super().__init__(message)
        self.frame_index = frame_index
        self.frame_reason = frame_reason


class LivenessExpired(LivenessError):
    reason = "liveness_expired"


class LivenessOutsideWindow(LivenessError):
    """A frame's timestamp lies outside the challenge's issued-at .. expiry window."""

    reason = "liveness_outside_window"


class LivenessBadSignature(LivenessError):
    reason = "liveness_bad_signature"


class LivenessFrameReplayed(LivenessError):
    reason = "liveness_frame_replayed"


class LivenessStatic(LivenessError):
    """No motion across the burst, or the same frame repeated: a still image, not a person."""

    reason = "liveness_static"


class LivenessMissingAction(LivenessError):
    reason = "liveness_missing_action"


class LivenessWrongOrder(LivenessError):
    reason = "liveness_wrong_order"


class LivenessUnexpectedAction(LivenessError):
    """A head turn that was not asked for: a replayed clip that cycles through every action."""

    reason = "liveness_unexpected_action"


class LivenessDiscontinuous(LivenessError):
    """The face jumps between consecutive frames further than a head moves in that time."""

    reason = "liveness_discontinuous"


class LivenessIdentityChanged(LivenessError):
    reason = "liveness_identity_changed"


class LivenessCardPhoto(LivenessError):
    """The live face sits implausibly close to the chip photo: a re-photographed or re-encoded DG2."""

    reason = "liveness_card_photo"


ALL_REASONS: tuple[str, ...] = tuple(
    sorted(
        {
            cls.reason
            for cls in (
                ImageEmpty,
                ImageTooLarge,
                ImageTruncated,
                ImageCorrupt,
                UnsupportedFormat,
                NoFace,
                MultipleFaces,
                FaceTooSmall,
                FaceCutOff,
                TooBlurred,
                TooDark,
                PoseTooFar,
                InvalidEmbedding,
                TemplateCorrupt,
                TemplateModelMismatch,
                TemplateInconsistent,
                LivenessBadRequest,
                LivenessBadFrame,
                LivenessExpired,
                LivenessOutsideWindow,
                LivenessBadSignature,
                LivenessFrameReplayed,
                LivenessStatic,
                LivenessMissingAction,
                LivenessWrongOrder,
                LivenessUnexpectedAction,
                LivenessDiscontinuous,
                LivenessIdentityChanged,
                LivenessCardPhoto,
            )
        }
    )
)

"""Policy vocabulary: outcomes, reason codes, assurance levels, terminal kinds, and the inputs to `decide`.

Everything here is plain data. The service fills `CheckResults` and `FraudSignals` from the chip, face,
liveness and storage layers; `None` always means "not known", and `decide` treats unknown as failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
from collections.abc import Mapping

from bhytgate.storage.interface import ChallengeProblem


class Outcome(enum.StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    REVIEW = "REVIEW"
    RETRY = "RETRY"  # nothing learned about fraud: try again (policy.retry)


class ReasonCode(enum.StrEnum):
    """The gateway's one vocabulary of reasons: stable strings, over the wire (`wire_name`, the
    proto's ReasonCode) and in the audit log. A `Reason` with any other code cannot be built."""

    # chip data (Passive Authentication)
    CHIP_SIGNATURE_INVALID = "CHIP_SIGNATURE_INVALID"
    SIGNER_UNTRUSTED = "SIGNER_UNTRUSTED"
    SIGNER_REVOKED = "SIGNER_REVOKED"
    SIGNER_EXPIRED = "SIGNER_EXPIRED"
    DATA_GROUP_HASH_MISMATCH = "DATA_GROUP_HASH_MISMATCH"
    DATA_GROUP_NOT_IN_SOD = "DATA_GROUP_NOT_IN_SOD"
    CHIP_DATA_MALFORMED = "CHIP_DATA_MALFORMED"
    # the chip itself (Active Authentication)
    CHIP_NOT_GENUINE = "CHIP_NOT_GENUINE"
    AA_MISSING = "AA_MISSING"
    AA_UNREADABLE = "AA_UNREADABLE"
    # the challenge and the terminal
    CHALLENGE_UNKNOWN = "CHALLENGE_UNKNOWN"
    CHALLENGE_EXPIRED = "CHALLENGE_EXPIRED"
    CHALLENGE_REPLAYED = "CHALLENGE_REPLAYED"
    CHALLENGE_TERMINAL_MISMATCH = "CHALLENGE_TERMINAL_MISMATCH"
    TERMINAL_SIGNATURE_INVALID = "TERMINAL_SIGNATURE_INVALID"
    # the document
    DOCUMENT_EXPIRED = "DOCUMENT_EXPIRED"
    DOCUMENT_REPORTED_LOST = "DOCUMENT_REPORTED_LOST"
    QR_UNUSABLE = "QR_UNUSABLE"
    # the face
    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    POOR_FACE_QUALITY = "POOR_FACE_QUALITY"
    FACE_MISMATCH = "FACE_MISMATCH"
    TEMPLATE_MISMATCH = "TEMPLATE_MISMATCH"
    TEMPLATE_NOT_ENROLLED = "TEMPLATE_NOT_ENROLLED"
    # a genuine chip without a usable face image (under-6 cards): a guardian must be verified
    NO_CHIP_PORTRAIT = "NO_CHIP_PORTRAIT"
    # liveness
    LIVENESS_FAILED = "LIVENESS_FAILED"
    FRAMES_REPLAYED = "FRAMES_REPLAYED"
    CARD_PHOTO_PRESENTED = "CARD_PHOTO_PRESENTED"
    # the entitlement
    NO_ENTITLEMENT = "NO_ENTITLEMENT"
    CARD_EXPIRED = "CARD_EXPIRED"
    CARD_REVOKED = "CARD_REVOKED"
    CARD_REDUCED = "CARD_REDUCED"
    CARD_MANAGED_ELSEWHERE = "CARD_MANAGED_ELSEWHERE"
    HOLDER_DATA_MISMATCH = "HOLDER_DATA_MISMATCH"
    # fraud rules
    FRAUD_VELOCITY = "FRAUD_VELOCITY"
    FRAUD_BIOMETRIC_LOCKED = "FRAUD_BIOMETRIC_LOCKED"
    FRAUD_TERMINAL_FLAGGED = "FRAUD_TERMINAL_FLAGGED"
    # policy
    ASSURANCE_TOO_LOW = "ASSURANCE_TOO_LOW"
    OPERATOR_REQUIRED = "OPERATOR_REQUIRED"  # on the wire: OPERATOR_NOT_AUTHORIZED
    # a check the service did not report (fail closed, and say which); on the wire:
    # INTERNAL_CHECK_UNAVAILABLE, like a check that could not run
    CHECK_MISSING = "CHECK_MISSING"
    INTERNAL_CHECK_UNAVAILABLE = "INTERNAL_CHECK_UNAVAILABLE"
    # a child's check-in vouched for by a verified guardian (policy.guardian)
    GUARDIAN_NOT_VERIFIED = "GUARDIAN_NOT_VERIFIED"
    GUARDIAN_NOT_APPLICABLE = "GUARDIAN_NOT_APPLICABLE"
    # the resolution of a review case
    REVIEW_REJECTED = "REVIEW_REJECTED"
    REVIEW_EXPIRED = "REVIEW_EXPIRED"
    # remote registration and device integrity (bhytgate.registration)
    INTEGRITY_TOKEN_MISSING = "INTEGRITY_TOKEN_MISSING"  # noqa: S105 (a reason code, not a secret)
    INTEGRITY_TOKEN_INVALID = "INTEGRITY_TOKEN_INVALID"  # noqa: S105 (a reason code, not a secret)
    INTEGRITY_NONCE_MISMATCH = "INTEGRITY_NONCE_MISMATCH"
    INTEGRITY_TOKEN_STALE = "INTEGRITY_TOKEN_STALE"  # noqa: S105 (a reason code, not a secret)
    INTEGRITY_VERDICT_FAILED = "INTEGRITY_VERDICT_FAILED"
    REGISTRATION_WEAKER = "REGISTRATION_WEAKER"

    @property
    def wire_name(self) -> str:
        """The name of this code in the proto's ReasonCode enum."""
        return "REASON_CODE_" + _WIRE_ALIASES.get(self.value, self.value)


_WIRE_ALIASES = {
    "OPERATOR_REQUIRED": "OPERATOR_NOT_AUTHORIZED",
    "CHECK_MISSING": "INTERNAL_CHECK_UNAVAILABLE",
}
_REASON_CODES = frozenset(c.value for c in ReasonCode)


CHIP_FAILURE_CODES = frozenset(
    {
        ReasonCode.CHIP_SIGNATURE_INVALID,
        ReasonCode.SIGNER_UNTRUSTED,
        ReasonCode.SIGNER_REVOKED,
        ReasonCode.SIGNER_EXPIRED,
        ReasonCode.DATA_GROUP_HASH_MISMATCH,
    }
)
FACE_FAILURE_CODES = frozenset({ReasonCode.NO_FACE, ReasonCode.MULTIPLE_FACES, ReasonCode.POOR_FACE_QUALITY})


class AssuranceLevel(enum.StrEnum):
    """How strongly the person and the card were bound, lowest to highest."""

    QR_ENROLLED_FACE = "qr_enrolled_face"
    CHIP_FACE = "chip_face"
    CHIP_AA_FACE_LIVENESS = "chip_aa_face_liveness"
    # the holder (a young child) is bound to the card by a fully verified guardian, not by a face
    GUARDIAN_VERIFIED = "guardian_verified"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    AssuranceLevel.GUARDIAN_VERIFIED: 0,  # its own path (policy.guardian), never a face level
    AssuranceLevel.QR_ENROLLED_FACE: 1,
    AssuranceLevel.CHIP_FACE: 2,
    AssuranceLevel.CHIP_AA_FACE_LIVENESS: 3,
}


class TerminalKind(enum.StrEnum):
    DESK = "desk"  # staffed hospital check-in desk or counter
    KIOSK = "kiosk"  # unattended self check-in
    PHONE = "phone"  # the patient's own device


class DocumentSource(enum.StrEnum):
    CHIP = "chip"  # data read from the CCCD chip (passive authentication possible)
    QR = "qr"  # QR code only: a lookup key, never proof; needs an enrolled template


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    code: str
    detail: str

    def __post_init__(self) -> None:
        if self.code not in _REASON_CODES:
            raise ValueError(f"unknown reason code {self.code!r}: add it to ReasonCode (and the proto)")


@dataclasses.dataclass(frozen=True, slots=True)
class FaceMatch:
    """One comparison. `matched` must agree with distance <= threshold, else it counts as a mismatch."""

    distance: float
    threshold: float
    matched: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResults:
    """What the verification pipeline found. `None` = not performed / not known."""

    document_source: DocumentSource | None = None
    chip_passive_ok: bool | None = None  # EF.SOD signature, DS chain, DG hashes
    chip_failure_codes: tuple[str, ...] = ()  # subset of CHIP_FAILURE_CODES when passive auth failed
    aa_ok: bool | None = None  # active/chip authentication; None = not performed (no DG15/DG14)
    challenge_ok: bool | None = None  # the single-use challenge was consumed by this terminal
    challenge_problem: ChallengeProblem | None = None
    document_expired: bool | None = None
    face_failure_code: str | None = None  # NO_FACE | MULTIPLE_FACES | POOR_FACE_QUALITY
    face_failure_on_chip: bool = False  # the failure is the chip photo's (a retry cannot help)
    face_match: FaceMatch | None = None  # live face vs chip photo (DG2)
    template_match: FaceMatch | None = None  # live face vs enrolled template; None = none enrolled
    liveness_ok: bool | None = None  # None = not performed (desk single-frame mode)
    liveness_failure: str | None = None
    operator: str | None = None  # named staff member at a desk
    entitlement_usable: bool | None = None
    ma_ket_qua: str | None = None  # the card-check result code (000-004 usable)


@dataclasses.dataclass(frozen=True, slots=True)
class FraudSignals:
    """Facts from storage at decision time; `decide` computes the flags from them."""

    now: dt.datetime
    reported_lost: bool | None = None
    facilities_in_window: frozenset[str] | None = None  # earlier verifications, this document
    current_facility: str = ""
    biometric_locked_until: dt.datetime | None = None
    terminal_recent: Mapping[str, int] | None = None  # decision -> count over the last M decisions


def _default_min_assurance() -> Mapping[TerminalKind, AssuranceLevel]:
    return types.MappingProxyType(
        {
            TerminalKind.DESK: AssuranceLevel.QR_ENROLLED_FACE,
            TerminalKind.KIOSK: AssuranceLevel.CHIP_AA_FACE_LIVENESS,
            TerminalKind.PHONE: AssuranceLevel.CHIP_AA_FACE_LIVENESS,
        }
    )


def _default_liveness_required() -> Mapping[TerminalKind, bool]:
    return types.MappingProxyType(
        {TerminalKind.DESK: False, TerminalKind.KIOSK: True, TerminalKind.PHONE: True}
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Tunable thresholds. Defaults are starting points, not measured optima."""

    velocity_window: dt.timedelta = dt.timedelta(hours=6)
    velocity_max_facilities: int = 1
    mismatch_lock_threshold: int = 3
    mismatch_window: dt.timedelta = dt.timedelta(hours=24)
    mismatch_lock_duration: dt.timedelta = dt.timedelta(hours=24)
    terminal_window_decisions: int = 50  # M: how many recent decisions of a terminal to look at
    terminal_reject_rate_threshold: float = 0.5
    terminal_min_rejections: int = 10
    min_assurance: Mapping[TerminalKind, AssuranceLevel] = dataclasses.field(
        default_factory=_default_min_assurance
    )
    liveness_required: Mapping[TerminalKind, bool] = dataclasses.field(
        default_factory=_default_liveness_required
    )
    usable_result_codes: frozenset[str] = frozenset({"000", "001", "002", "003", "004"})


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reasons: list[Reason]
    assurance_level: AssuranceLevel | None

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TerminalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TERMINAL_KIND_UNSPECIFIED: _ClassVar[TerminalKind]
    TERMINAL_KIND_DESK: _ClassVar[TerminalKind]
    TERMINAL_KIND_KIOSK: _ClassVar[TerminalKind]
    TERMINAL_KIND_PHONE: _ClassVar[TerminalKind]

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_CHECK_IN: _ClassVar[Purpose]
    PURPOSE_COUNTER_SERVICE: _ClassVar[Purpose]

class LivenessAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIVENESS_ACTION_UNSPECIFIED: _ClassVar[LivenessAction]
    LIVENESS_ACTION_TURN_LEFT: _ClassVar[LivenessAction]
    LIVENESS_ACTION_TURN_RIGHT: _ClassVar[LivenessAction]
    LIVENESS_ACTION_BLINK: _ClassVar[LivenessAction]

class AssuranceLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSURANCE_LEVEL_UNSPECIFIED: _ClassVar[AssuranceLevel]
    ASSURANCE_LEVEL_CHIP_AA_FACE_LIVENESS: _ClassVar[AssuranceLevel]
    ASSURANCE_LEVEL_CHIP_FACE: _ClassVar[AssuranceLevel]
    ASSURANCE_LEVEL_QR_ENROLLED_FACE: _ClassVar[AssuranceLevel]
    ASSURANCE_LEVEL_GUARDIAN_VERIFIED: _ClassVar[AssuranceLevel]

class QrKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QR_KIND_UNSPECIFIED: _ClassVar[QrKind]
    QR_KIND_CCCD_QR: _ClassVar[QrKind]
    QR_KIND_BHYT_QR: _ClassVar[QrKind]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ACCEPTED: _ClassVar[Decision]
    DECISION_REJECTED: _ClassVar[Decision]
    DECISION_REVIEW: _ClassVar[Decision]
    DECISION_RETRY: _ClassVar[Decision]

class ReasonCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_CODE_UNSPECIFIED: _ClassVar[ReasonCode]
    REASON_CODE_CHIP_SIGNATURE_INVALID: _ClassVar[ReasonCode]
    REASON_CODE_SIGNER_UNTRUSTED: _ClassVar[ReasonCode]
    REASON_CODE_SIGNER_REVOKED: _ClassVar[ReasonCode]
    REASON_CODE_SIGNER_EXPIRED: _ClassVar[ReasonCode]
    REASON_CODE_DATA_GROUP_HASH_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_DATA_GROUP_NOT_IN_SOD: _ClassVar[ReasonCode]
    REASON_CODE_CHIP_DATA_MALFORMED: _ClassVar[ReasonCode]
    REASON_CODE_CHIP_NOT_GENUINE: _ClassVar[ReasonCode]
    REASON_CODE_AA_MISSING: _ClassVar[ReasonCode]
    REASON_CODE_AA_UNREADABLE: _ClassVar[ReasonCode]
    REASON_CODE_CHALLENGE_UNKNOWN: _ClassVar[ReasonCode]
    REASON_CODE_CHALLENGE_EXPIRED: _ClassVar[ReasonCode]
    REASON_CODE_CHALLENGE_REPLAYED: _ClassVar[ReasonCode]
    REASON_CODE_CHALLENGE_TERMINAL_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_TERMINAL_SIGNATURE_INVALID: _ClassVar[ReasonCode]
    REASON_CODE_DOCUMENT_EXPIRED: _ClassVar[ReasonCode]
    REASON_CODE_DOCUMENT_REPORTED_LOST: _ClassVar[ReasonCode]
    REASON_CODE_QR_UNUSABLE: _ClassVar[ReasonCode]
    REASON_CODE_NO_FACE: _ClassVar[ReasonCode]
    REASON_CODE_MULTIPLE_FACES: _ClassVar[ReasonCode]
    REASON_CODE_POOR_FACE_QUALITY: _ClassVar[ReasonCode]
    REASON_CODE_FACE_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_TEMPLATE_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_TEMPLATE_NOT_ENROLLED: _ClassVar[ReasonCode]
    REASON_CODE_LIVENESS_FAILED: _ClassVar[ReasonCode]
    REASON_CODE_FRAMES_REPLAYED: _ClassVar[ReasonCode]
    REASON_CODE_CARD_PHOTO_PRESENTED: _ClassVar[ReasonCode]
    REASON_CODE_NO_ENTITLEMENT: _ClassVar[ReasonCode]
    REASON_CODE_CARD_EXPIRED: _ClassVar[ReasonCode]
    REASON_CODE_CARD_REVOKED: _ClassVar[ReasonCode]
    REASON_CODE_CARD_REDUCED: _ClassVar[ReasonCode]
    REASON_CODE_CARD_MANAGED_ELSEWHERE: _ClassVar[ReasonCode]
    REASON_CODE_HOLDER_DATA_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_FRAUD_VELOCITY: _ClassVar[ReasonCode]
    REASON_CODE_FRAUD_BIOMETRIC_LOCKED: _ClassVar[ReasonCode]
    REASON_CODE_FRAUD_TERMINAL_FLAGGED: _ClassVar[ReasonCode]
    REASON_CODE_ASSURANCE_TOO_LOW: _ClassVar[ReasonCode]
    REASON_CODE_OPERATOR_NOT_AUTHORIZED: _ClassVar[ReasonCode]
    REASON_CODE_INTERNAL_CHECK_UNAVAILABLE: _ClassVar[ReasonCode]
    REASON_CODE_GUARDIAN_NOT_VERIFIED: _ClassVar[ReasonCode]
    REASON_CODE_GUARDIAN_NOT_APPLICABLE: _ClassVar[ReasonCode]
    REASON_CODE_REVIEW_REJECTED: _ClassVar[ReasonCode]
    REASON_CODE_REVIEW_EXPIRED: _ClassVar[ReasonCode]
    REASON_CODE_INTEGRITY_TOKEN_MISSING: _ClassVar[ReasonCode]
    REASON_CODE_INTEGRITY_TOKEN_INVALID: _ClassVar[ReasonCode]
    REASON_CODE_INTEGRITY_NONCE_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_INTEGRITY_TOKEN_STALE: _ClassVar[ReasonCode]
    REASON_CODE_INTEGRITY_VERDICT_FAILED: _ClassVar[ReasonCode]
    REASON_CODE_REGISTRATION_WEAKER: _ClassVar[ReasonCode]
    REASON_CODE_NO_CHIP_PORTRAIT: _ClassVar[ReasonCode]

class Check(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_UNSPECIFIED: _ClassVar[Check]
    CHECK_CHALLENGE: _ClassVar[Check]
    CHECK_PASSIVE_AUTH: _ClassVar[Check]
    CHECK_ACTIVE_AUTH: _ClassVar[Check]
    CHECK_TERMINAL_SIGNATURE: _ClassVar[Check]
    CHECK_DOCUMENT_STATUS: _ClassVar[Check]
    CHECK_FACE_MATCH: _ClassVar[Check]
    CHECK_LIVENESS: _ClassVar[Check]
    CHECK_ENTITLEMENT: _ClassVar[Check]
    CHECK_FRAUD_RULES: _ClassVar[Check]

class CheckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_STATUS_UNSPECIFIED: _ClassVar[CheckStatus]
    CHECK_STATUS_PASSED: _ClassVar[CheckStatus]
    CHECK_STATUS_FAILED: _ClassVar[CheckStatus]
    CHECK_STATUS_SKIPPED: _ClassVar[CheckStatus]

class LossReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOSS_REASON_UNSPECIFIED: _ClassVar[LossReason]
    LOSS_REASON_LOST: _ClassVar[LossReason]
    LOSS_REASON_STOLEN: _ClassVar[LossReason]
    LOSS_REASON_HOLDER_DECEASED: _ClassVar[LossReason]

class RenewalStartRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RENEWAL_START_RULE_UNSPECIFIED: _ClassVar[RenewalStartRule]
    RENEWAL_START_RULE_CONTINUOUS: _ClassVar[RenewalStartRule]
    RENEWAL_START_RULE_FROM_PAYMENT: _ClassVar[RenewalStartRule]
    RENEWAL_START_RULE_WAITING_PERIOD: _ClassVar[RenewalStartRule]

class ImportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_FORMAT_UNSPECIFIED: _ClassVar[ImportFormat]
    IMPORT_FORMAT_CSV: _ClassVar[ImportFormat]
    IMPORT_FORMAT_JSONL: _ClassVar[ImportFormat]

class RevocationReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOCATION_REASON_UNSPECIFIED: _ClassVar[RevocationReason]
    REVOCATION_REASON_KEY_COMPROMISE: _ClassVar[RevocationReason]
    REVOCATION_REASON_DEVICE_LOST: _ClassVar[RevocationReason]
    REVOCATION_REASON_SUPERSEDED: _ClassVar[RevocationReason]
    REVOCATION_REASON_CESSATION_OF_OPERATION: _ClassVar[RevocationReason]

class RetryHint(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETRY_HINT_UNSPECIFIED: _ClassVar[RetryHint]
    RETRY_HINT_HOLD_CARD_STILL: _ClassVar[RetryHint]
    RETRY_HINT_FACE_THE_CAMERA: _ClassVar[RetryHint]
    RETRY_HINT_TRY_AGAIN_SHORTLY: _ClassVar[RetryHint]

class ReviewState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATE_UNSPECIFIED: _ClassVar[ReviewState]
    REVIEW_STATE_OPEN: _ClassVar[ReviewState]
    REVIEW_STATE_ACCEPTED: _ClassVar[ReviewState]
    REVIEW_STATE_REJECTED: _ClassVar[ReviewState]
    REVIEW_STATE_EXPIRED: _ClassVar[ReviewState]

class RegistrationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGISTRATION_STATUS_UNSPECIFIED: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_ACTIVE: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_PENDING_REVIEW: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_SUPERSEDED: _ClassVar[RegistrationStatus]

class IntegrityVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTEGRITY_VERDICT_UNSPECIFIED: _ClassVar[IntegrityVerdict]
    INTEGRITY_VERDICT_NOT_CONFIGURED: _ClassVar[IntegrityVerdict]
    INTEGRITY_VERDICT_VERIFIED: _ClassVar[IntegrityVerdict]
    INTEGRITY_VERDICT_MISSING: _ClassVar[IntegrityVerdict]
    INTEGRITY_VERDICT_FAILED: _ClassVar[IntegrityVerdict]

class DossierStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOSSIER_STATUS_UNSPECIFIED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_VERIFIED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_UNVERIFIED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_MISMATCH: _ClassVar[DossierStatus]
    DOSSIER_STATUS_UNPARSEABLE: _ClassVar[DossierStatus]
    DOSSIER_STATUS_DUPLICATE: _ClassVar[DossierStatus]
TERMINAL_KIND_UNSPECIFIED: TerminalKind
TERMINAL_KIND_DESK: TerminalKind
TERMINAL_KIND_KIOSK: TerminalKind
TERMINAL_KIND_PHONE: TerminalKind
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_CHECK_IN: Purpose
PURPOSE_COUNTER_SERVICE: Purpose
LIVENESS_ACTION_UNSPECIFIED: LivenessAction
LIVENESS_ACTION_TURN_LEFT: LivenessAction
LIVENESS_ACTION_TURN_RIGHT: LivenessAction
LIVENESS_ACTION_BLINK: LivenessAction
ASSURANCE_LEVEL_UNSPECIFIED: AssuranceLevel
ASSURANCE_LEVEL_CHIP_AA_FACE_LIVENESS: AssuranceLevel
ASSURANCE_LEVEL_CHIP_FACE: AssuranceLevel
ASSURANCE_LEVEL_QR_ENROLLED_FACE: AssuranceLevel
ASSURANCE_LEVEL_GUARDIAN_VERIFIED: AssuranceLevel
QR_KIND_UNSPECIFIED: QrKind
QR_KIND_CCCD_QR: QrKind
QR_KIND_BHYT_QR: QrKind
DECISION_UNSPECIFIED: Decision
DECISION_ACCEPTED: Decision
DECISION_REJECTED: Decision
DECISION_REVIEW: Decision
DECISION_RETRY: Decision
REASON_CODE_UNSPECIFIED: ReasonCode
REASON_CODE_CHIP_SIGNATURE_INVALID: ReasonCode
REASON_CODE_SIGNER_UNTRUSTED: ReasonCode
REASON_CODE_SIGNER_REVOKED: ReasonCode
REASON_CODE_SIGNER_EXPIRED: ReasonCode
REASON_CODE_DATA_GROUP_HASH_MISMATCH: ReasonCode
REASON_CODE_DATA_GROUP_NOT_IN_SOD: ReasonCode
REASON_CODE_CHIP_DATA_MALFORMED: ReasonCode
REASON_CODE_CHIP_NOT_GENUINE: ReasonCode
REASON_CODE_AA_MISSING: ReasonCode
REASON_CODE_AA_UNREADABLE: ReasonCode
REASON_CODE_CHALLENGE_UNKNOWN: ReasonCode
REASON_CODE_CHALLENGE_EXPIRED: ReasonCode
REASON_CODE_CHALLENGE_REPLAYED: ReasonCode
REASON_CODE_CHALLENGE_TERMINAL_MISMATCH: ReasonCode
REASON_CODE_TERMINAL_SIGNATURE_INVALID: ReasonCode
REASON_CODE_DOCUMENT_EXPIRED: ReasonCode
REASON_CODE_DOCUMENT_REPORTED_LOST: ReasonCode
REASON_CODE_QR_UNUSABLE: ReasonCode
REASON_CODE_NO_FACE: ReasonCode
REASON_CODE_MULTIPLE_FACES: ReasonCode
REASON_CODE_POOR_FACE_QUALITY: ReasonCode
REASON_CODE_FACE_MISMATCH: ReasonCode
REASON_CODE_TEMPLATE_MISMATCH: ReasonCode
REASON_CODE_TEMPLATE_NOT_ENROLLED: ReasonCode
REASON_CODE_LIVENESS_FAILED: ReasonCode
REASON_CODE_FRAMES_REPLAYED: ReasonCode
REASON_CODE_CARD_PHOTO_PRESENTED: ReasonCode
REASON_CODE_NO_ENTITLEMENT: ReasonCode
REASON_CODE_CARD_EXPIRED: ReasonCode
REASON_CODE_CARD_REVOKED: ReasonCode
REASON_CODE_CARD_REDUCED: ReasonCode
REASON_CODE_CARD_MANAGED_ELSEWHERE: ReasonCode
REASON_CODE_HOLDER_DATA_MISMATCH: ReasonCode
REASON_CODE_FRAUD_VELOCITY: ReasonCode
REASON_CODE_FRAUD_BIOMETRIC_LOCKED: ReasonCode
REASON_CODE_FRAUD_TERMINAL_FLAGGED: ReasonCode
REASON_CODE_ASSURANCE_TOO_LOW: ReasonCode
REASON_CODE_OPERATOR_NOT_AUTHORIZED: ReasonCode
REASON_CODE_INTERNAL_CHECK_UNAVAILABLE: ReasonCode
REASON_CODE_GUARDIAN_NOT_VERIFIED: ReasonCode
REASON_CODE_GUARDIAN_NOT_APPLICABLE: ReasonCode
REASON_CODE_REVIEW_REJECTED: ReasonCode
REASON_CODE_REVIEW_EXPIRED: ReasonCode
REASON_CODE_INTEGRITY_TOKEN_MISSING: ReasonCode
REASON_CODE_INTEGRITY_TOKEN_INVALID: ReasonCode
REASON_CODE_INTEGRITY_NONCE_MISMATCH: ReasonCode
REASON_CODE_INTEGRITY_TOKEN_STALE: ReasonCode
REASON_CODE_INTEGRITY_VERDICT_FAILED: ReasonCode
REASON_CODE_REGISTRATION_WEAKER: ReasonCode
REASON_CODE_NO_CHIP_PORTRAIT: ReasonCode
CHECK_UNSPECIFIED: Check
CHECK_CHALLENGE: Check
CHECK_PASSIVE_AUTH: Check
CHECK_ACTIVE_AUTH: Check
CHECK_TERMINAL_SIGNATURE: Check
CHECK_DOCUMENT_STATUS: Check
CHECK_FACE_MATCH: Check
CHECK_LIVENESS: Check
CHECK_ENTITLEMENT: Check
CHECK_FRAUD_RULES: Check
CHECK_STATUS_UNSPECIFIED: CheckStatus
CHECK_STATUS_PASSED: CheckStatus
CHECK_STATUS_FAILED: CheckStatus
CHECK_STATUS_SKIPPED: CheckStatus
LOSS_REASON_UNSPECIFIED: LossReason
LOSS_REASON_LOST: LossReason
LOSS_REASON_STOLEN: LossReason
LOSS_REASON_HOLDER_DECEASED: LossReason
RENEWAL_START_RULE_UNSPECIFIED: RenewalStartRule
RENEWAL_START_RULE_CONTINUOUS: RenewalStartRule
RENEWAL_START_RULE_FROM_PAYMENT: RenewalStartRule
RENEWAL_START_RULE_WAITING_PERIOD: RenewalStartRule
IMPORT_FORMAT_UNSPECIFIED: ImportFormat
IMPORT_FORMAT_CSV: ImportFormat
IMPORT_FORMAT_JSONL: ImportFormat
REVOCATION_REASON_UNSPECIFIED: RevocationReason
REVOCATION_REASON_KEY_COMPROMISE: RevocationReason
REVOCATION_REASON_DEVICE_LOST: RevocationReason
REVOCATION_REASON_SUPERSEDED: RevocationReason
REVOCATION_REASON_CESSATION_OF_OPERATION: RevocationReason
RETRY_HINT_UNSPECIFIED: RetryHint
RETRY_HINT_HOLD_CARD_STILL: RetryHint
RETRY_HINT_FACE_THE_CAMERA: RetryHint
RETRY_HINT_TRY_AGAIN_SHORTLY: RetryHint
REVIEW_STATE_UNSPECIFIED: ReviewState
REVIEW_STATE_OPEN: ReviewState
REVIEW_STATE_ACCEPTED: ReviewState
REVIEW_STATE_REJECTED: ReviewState
REVIEW_STATE_EXPIRED: ReviewState
REGISTRATION_STATUS_UNSPECIFIED: RegistrationStatus
REGISTRATION_STATUS_ACTIVE: RegistrationStatus
REGISTRATION_STATUS_PENDING_REVIEW: RegistrationStatus
REGISTRATION_STATUS_SUPERSEDED: RegistrationStatus
INTEGRITY_VERDICT_UNSPECIFIED: IntegrityVerdict
INTEGRITY_VERDICT_NOT_CONFIGURED: IntegrityVerdict
INTEGRITY_VERDICT_VERIFIED: IntegrityVerdict
INTEGRITY_VERDICT_MISSING: IntegrityVerdict
INTEGRITY_VERDICT_FAILED: IntegrityVerdict
DOSSIER_STATUS_UNSPECIFIED: DossierStatus
DOSSIER_STATUS_VERIFIED: DossierStatus
DOSSIER_STATUS_UNVERIFIED: DossierStatus
DOSSIER_STATUS_MISMATCH: DossierStatus
DOSSIER_STATUS_UNPARSEABLE: DossierStatus
DOSSIER_STATUS_DUPLICATE: DossierStatus

class Operator(_message.Message):
    __slots__ = ("full_name", "cccd_number")
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    full_name: str
    cccd_number: str
    def __init__(self, full_name: _Optional[str] = ..., cccd_number: _Optional[str] = ...) -> None: ...

class CaptureFrame(_message.Message):
    __slots__ = ("image", "timestamp_ms")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    timestamp_ms: int
    def __init__(self, image: _Optional[bytes] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class BeginVerificationRequest(_message.Message):
    __slots__ = ("terminal_kind", "terminal_id", "operator", "purpose", "facility_code")
    TERMINAL_KIND_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    FACILITY_CODE_FIELD_NUMBER: _ClassVar[int]
    terminal_kind: TerminalKind
    terminal_id: str
    operator: Operator
    purpose: Purpose
    facility_code: str
    def __init__(self, terminal_kind: _Optional[_Union[TerminalKind, str]] = ..., terminal_id: _Optional[str] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., facility_code: _Optional[str] = ...) -> None: ...

class BeginVerificationResponse(_message.Message):
    __slots__ = ("challenge_id", "nonce", "aa_challenge", "liveness_actions", "expire_time", "terminal_kind", "required_assurance_level")
    CHALLENGE_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    AA_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_KIND_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ASSURANCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    challenge_id: str
    nonce: bytes
    aa_challenge: bytes
    liveness_actions: _containers.RepeatedScalarFieldContainer[LivenessAction]
    expire_time: _timestamp_pb2.Timestamp
    terminal_kind: TerminalKind
    required_assurance_level: AssuranceLevel
    def __init__(self, challenge_id: _Optional[str] = ..., nonce: _Optional[bytes] = ..., aa_challenge: _Optional[bytes] = ..., liveness_actions: _Optional[_Iterable[_Union[LivenessAction, str]]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., terminal_kind: _Optional[_Union[TerminalKind, str]] = ..., required_assurance_level: _Optional[_Union[AssuranceLevel, str]] = ...) -> None: ...

class ChipData(_message.Message):
    __slots__ = ("ef_sod", "dg1", "dg2", "dg13", "dg14", "dg15")
    EF_SOD_FIELD_NUMBER: _ClassVar[int]
    DG1_FIELD_NUMBER: _ClassVar[int]
    DG2_FIELD_NUMBER: _ClassVar[int]
    DG13_FIELD_NUMBER: _ClassVar[int]
    DG14_FIELD_NUMBER: _ClassVar[int]
    DG15_FIELD_NUMBER: _ClassVar[int]
    ef_sod: bytes
    dg1: bytes
    dg2: bytes
    dg13: bytes
    dg14: bytes
    dg15: bytes
    def __init__(self, ef_sod: _Optional[bytes] = ..., dg1: _Optional[bytes] = ..., dg2: _Optional[bytes] = ..., dg13: _Optional[bytes] = ..., dg14: _Optional[bytes] = ..., dg15: _Optional[bytes] = ...) -> None: ...

class ActiveAuthResponse(_message.Message):
    __slots__ = ("signatures",)
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    signatures: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, signatures: _Optional[_Iterable[bytes]] = ...) -> None: ...

class QrCredential(_message.Message):
    __slots__ = ("qr_text", "qr_kind")
    QR_TEXT_FIELD_NUMBER: _ClassVar[int]
    QR_KIND_FIELD_NUMBER: _ClassVar[int]
    qr_text: str
    qr_kind: QrKind
    def __init__(self, qr_text: _Optional[str] = ..., qr_kind: _Optional[_Union[QrKind, str]] = ...) -> None: ...

class TerminalSignature(_message.Message):
    __slots__ = ("signature", "key_id")
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    key_id: str
    def __init__(self, signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("challenge_id", "terminal_id", "chip", "qr", "active_auth", "frames", "terminal_signature", "operator", "guardian_verification_id", "checkin")
    CHALLENGE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    CHIP_FIELD_NUMBER: _ClassVar[int]
    QR_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_AUTH_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    GUARDIAN_VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKIN_FIELD_NUMBER: _ClassVar[int]
    challenge_id: str
    terminal_id: str
    chip: ChipData
    qr: QrCredential
    active_auth: ActiveAuthResponse
    frames: _containers.RepeatedCompositeFieldContainer[CaptureFrame]
    terminal_signature: TerminalSignature
    operator: Operator
    guardian_verification_id: str
    checkin: CheckinDetails
    def __init__(self, challenge_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., chip: _Optional[_Union[ChipData, _Mapping]] = ..., qr: _Optional[_Union[QrCredential, _Mapping]] = ..., active_auth: _Optional[_Union[ActiveAuthResponse, _Mapping]] = ..., frames: _Optional[_Iterable[_Union[CaptureFrame, _Mapping]]] = ..., terminal_signature: _Optional[_Union[TerminalSignature, _Mapping]] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ..., guardian_verification_id: _Optional[str] = ..., checkin: _Optional[_Union[CheckinDetails, _Mapping]] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("code", "detail")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    code: ReasonCode
    detail: str
    def __init__(self, code: _Optional[_Union[ReasonCode, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckOutcome(_message.Message):
    __slots__ = ("check", "status")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    check: Check
    status: CheckStatus
    def __init__(self, check: _Optional[_Union[Check, str]] = ..., status: _Optional[_Union[CheckStatus, str]] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "millis")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MILLIS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    millis: float
    def __init__(self, stage: _Optional[str] = ..., millis: _Optional[float] = ...) -> None: ...

class Entitlement(_message.Message):
    __slots__ = ("ma_the", "ho_ten", "ngay_sinh", "gioi_tinh", "dia_chi", "ma_dkbd", "ten_dkbd", "cq_bhxh", "gt_the_tu", "gt_the_den", "ma_kv", "ngay_du_5_nam", "ma_so_bhxh", "ma_the_cu", "ma_the_moi", "gt_the_tu_moi", "gt_the_den_moi", "ma_dkbd_moi", "ten_dkbd_moi", "muc_huong", "doi_tuong", "ma_ket_qua", "ghi_chu", "ngay_mien_cct")
    MA_THE_FIELD_NUMBER: _ClassVar[int]
    HO_TEN_FIELD_NUMBER: _ClassVar[int]
    NGAY_SINH_FIELD_NUMBER: _ClassVar[int]
    GIOI_TINH_FIELD_NUMBER: _ClassVar[int]
    DIA_CHI_FIELD_NUMBER: _ClassVar[int]
    MA_DKBD_FIELD_NUMBER: _ClassVar[int]
    TEN_DKBD_FIELD_NUMBER: _ClassVar[int]
    CQ_BHXH_FIELD_NUMBER: _ClassVar[int]
    GT_THE_TU_FIELD_NUMBER: _ClassVar[int]
    GT_THE_DEN_FIELD_NUMBER: _ClassVar[int]
    MA_KV_FIELD_NUMBER: _ClassVar[int]
    NGAY_DU_5_NAM_FIELD_NUMBER: _ClassVar[int]
    MA_SO_BHXH_FIELD_NUMBER: _ClassVar[int]
    MA_THE_CU_FIELD_NUMBER: _ClassVar[int]
    MA_THE_MOI_FIELD_NUMBER: _ClassVar[int]
    GT_THE_TU_MOI_FIELD_NUMBER: _ClassVar[int]
    GT_THE_DEN_MOI_FIELD_NUMBER: _ClassVar[int]
    MA_DKBD_MOI_FIELD_NUMBER: _ClassVar[int]
    TEN_DKBD_MOI_FIELD_NUMBER: _ClassVar[int]
    MUC_HUONG_FIELD_NUMBER: _ClassVar[int]
    DOI_TUONG_FIELD_NUMBER: _ClassVar[int]
    MA_KET_QUA_FIELD_NUMBER: _ClassVar[int]
    GHI_CHU_FIELD_NUMBER: _ClassVar[int]
    NGAY_MIEN_CCT_FIELD_NUMBER: _ClassVar[int]
    ma_the: str
    ho_ten: str
    ngay_sinh: str
    gioi_tinh: str
    dia_chi: str
    ma_dkbd: str
    ten_dkbd: str
    cq_bhxh: str
    gt_the_tu: str
    gt_the_den: str
    ma_kv: str
    ngay_du_5_nam: str
    ma_so_bhxh: str
    ma_the_cu: str
    ma_the_moi: str
    gt_the_tu_moi: str
    gt_the_den_moi: str
    ma_dkbd_moi: str
    ten_dkbd_moi: str
    muc_huong: int
    doi_tuong: str
    ma_ket_qua: str
    ghi_chu: str
    ngay_mien_cct: str
    def __init__(self, ma_the: _Optional[str] = ..., ho_ten: _Optional[str] = ..., ngay_sinh: _Optional[str] = ..., gioi_tinh: _Optional[str] = ..., dia_chi: _Optional[str] = ..., ma_dkbd: _Optional[str] = ..., ten_dkbd: _Optional[str] = ..., cq_bhxh: _Optional[str] = ..., gt_the_tu: _Optional[str] = ..., gt_the_den: _Optional[str] = ..., ma_kv: _Optional[str] = ..., ngay_du_5_nam: _Optional[str] = ..., ma_so_bhxh: _Optional[str] = ..., ma_the_cu: _Optional[str] = ..., ma_the_moi: _Optional[str] = ..., gt_the_tu_moi: _Optional[str] = ..., gt_the_den_moi: _Optional[str] = ..., ma_dkbd_moi: _Optional[str] = ..., ten_dkbd_moi: _Optional[str] = ..., muc_huong: _Optional[int] = ..., doi_tuong: _Optional[str] = ..., ma_ket_qua: _Optional[str] = ..., ghi_chu: _Optional[str] = ..., ngay_mien_cct: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("verification_id", "decision", "reasons", "assurance_level", "face_distance", "face_threshold", "stage_timings", "entitlement", "attestation", "checks", "verify_time", "retry_hint", "retry_message", "review_expire_time", "checkin_record")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    FACE_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    FACE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    STAGE_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    RETRY_HINT_FIELD_NUMBER: _ClassVar[int]
    RETRY_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKIN_RECORD_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    decision: Decision
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    assurance_level: AssuranceLevel
    face_distance: float
    face_threshold: float
    stage_timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    entitlement: Entitlement
    attestation: str
    checks: _containers.RepeatedCompositeFieldContainer[CheckOutcome]
    verify_time: _timestamp_pb2.Timestamp
    retry_hint: RetryHint
    retry_message: str
    review_expire_time: _timestamp_pb2.Timestamp
    checkin_record: CheckinRecord
    def __init__(self, verification_id: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., assurance_level: _Optional[_Union[AssuranceLevel, str]] = ..., face_distance: _Optional[float] = ..., face_threshold: _Optional[float] = ..., stage_timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., entitlement: _Optional[_Union[Entitlement, _Mapping]] = ..., attestation: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[CheckOutcome, _Mapping]]] = ..., verify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retry_hint: _Optional[_Union[RetryHint, str]] = ..., retry_message: _Optional[str] = ..., review_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checkin_record: _Optional[_Union[CheckinRecord, _Mapping]] = ...) -> None: ...

class GetAttestationKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAttestationKeysResponse(_message.Message):
    __slots__ = ("jwks_json",)
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    def __init__(self, jwks_json: _Optional[str] = ...) -> None: ...

class EnrollTemplateRequest(_message.Message):
    __slots__ = ("verification_id", "frames", "operator", "consent")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    frames: _containers.RepeatedCompositeFieldContainer[CaptureFrame]
    operator: Operator
    consent: HolderConsent
    def __init__(self, verification_id: _Optional[str] = ..., frames: _Optional[_Iterable[_Union[CaptureFrame, _Mapping]]] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ..., consent: _Optional[_Union[HolderConsent, _Mapping]] = ...) -> None: ...

class EnrollTemplateResponse(_message.Message):
    __slots__ = ("template_id", "create_time")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, template_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LinkSocialInsuranceRequest(_message.Message):
    __slots__ = ("cccd_number", "social_insurance_number", "verification_id", "operator")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SOCIAL_INSURANCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    social_insurance_number: str
    verification_id: str
    operator: Operator
    def __init__(self, cccd_number: _Optional[str] = ..., social_insurance_number: _Optional[str] = ..., verification_id: _Optional[str] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class LinkSocialInsuranceResponse(_message.Message):
    __slots__ = ("cccd_number", "social_insurance_number", "ma_the", "link_time")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SOCIAL_INSURANCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MA_THE_FIELD_NUMBER: _ClassVar[int]
    LINK_TIME_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    social_insurance_number: str
    ma_the: str
    link_time: _timestamp_pb2.Timestamp
    def __init__(self, cccd_number: _Optional[str] = ..., social_insurance_number: _Optional[str] = ..., ma_the: _Optional[str] = ..., link_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReportDocumentLostRequest(_message.Message):
    __slots__ = ("cccd_number", "document_number", "reason", "reporter", "note")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    document_number: str
    reason: LossReason
    reporter: Operator
    note: str
    def __init__(self, cccd_number: _Optional[str] = ..., document_number: _Optional[str] = ..., reason: _Optional[_Union[LossReason, str]] = ..., reporter: _Optional[_Union[Operator, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class ReportDocumentLostResponse(_message.Message):
    __slots__ = ("report_id", "report_time")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    report_time: _timestamp_pb2.Timestamp
    def __init__(self, report_id: _Optional[str] = ..., report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HouseholdMember(_message.Message):
    __slots__ = ("cccd_number", "social_insurance_number")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SOCIAL_INSURANCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    social_insurance_number: str
    def __init__(self, cccd_number: _Optional[str] = ..., social_insurance_number: _Optional[str] = ...) -> None: ...

class HouseholdMemberQuote(_message.Message):
    __slots__ = ("member", "order", "share_percent", "monthly_vnd", "amount_vnd", "card_number", "current_valid_to", "new_valid_from", "new_valid_to", "start_rule")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_VND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_VND_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VALID_TO_FIELD_NUMBER: _ClassVar[int]
    NEW_VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    NEW_VALID_TO_FIELD_NUMBER: _ClassVar[int]
    START_RULE_FIELD_NUMBER: _ClassVar[int]
    member: HouseholdMember
    order: int
    share_percent: int
    monthly_vnd: int
    amount_vnd: int
    card_number: str
    current_valid_to: str
    new_valid_from: str
    new_valid_to: str
    start_rule: RenewalStartRule
    def __init__(self, member: _Optional[_Union[HouseholdMember, _Mapping]] = ..., order: _Optional[int] = ..., share_percent: _Optional[int] = ..., monthly_vnd: _Optional[int] = ..., amount_vnd: _Optional[int] = ..., card_number: _Optional[str] = ..., current_valid_to: _Optional[str] = ..., new_valid_from: _Optional[str] = ..., new_valid_to: _Optional[str] = ..., start_rule: _Optional[_Union[RenewalStartRule, str]] = ...) -> None: ...

class QuoteHouseholdRenewalRequest(_message.Message):
    __slots__ = ("members", "months", "quote_date")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    QUOTE_DATE_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[HouseholdMember]
    months: int
    quote_date: str
    def __init__(self, members: _Optional[_Iterable[_Union[HouseholdMember, _Mapping]]] = ..., months: _Optional[int] = ..., quote_date: _Optional[str] = ...) -> None: ...

class QuoteHouseholdRenewalResponse(_message.Message):
    __slots__ = ("members", "total_vnd", "base_salary_vnd", "months", "quote_date")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VND_FIELD_NUMBER: _ClassVar[int]
    BASE_SALARY_VND_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    QUOTE_DATE_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[HouseholdMemberQuote]
    total_vnd: int
    base_salary_vnd: int
    months: int
    quote_date: str
    def __init__(self, members: _Optional[_Iterable[_Union[HouseholdMemberQuote, _Mapping]]] = ..., total_vnd: _Optional[int] = ..., base_salary_vnd: _Optional[int] = ..., months: _Optional[int] = ..., quote_date: _Optional[str] = ...) -> None: ...

class RenewHouseholdRequest(_message.Message):
    __slots__ = ("payer_verification_id", "members", "months", "payment_reference", "operator")
    PAYER_VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    payer_verification_id: str
    members: _containers.RepeatedCompositeFieldContainer[HouseholdMember]
    months: int
    payment_reference: str
    operator: Operator
    def __init__(self, payer_verification_id: _Optional[str] = ..., members: _Optional[_Iterable[_Union[HouseholdMember, _Mapping]]] = ..., months: _Optional[int] = ..., payment_reference: _Optional[str] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class RenewHouseholdResponse(_message.Message):
    __slots__ = ("receipt_id", "receipt", "members", "total_vnd", "base_salary_vnd", "months", "paid_on", "replayed")
    RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VND_FIELD_NUMBER: _ClassVar[int]
    BASE_SALARY_VND_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    PAID_ON_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    receipt_id: str
    receipt: str
    members: _containers.RepeatedCompositeFieldContainer[HouseholdMemberQuote]
    total_vnd: int
    base_salary_vnd: int
    months: int
    paid_on: str
    replayed: bool
    def __init__(self, receipt_id: _Optional[str] = ..., receipt: _Optional[str] = ..., members: _Optional[_Iterable[_Union[HouseholdMemberQuote, _Mapping]]] = ..., total_vnd: _Optional[int] = ..., base_salary_vnd: _Optional[int] = ..., months: _Optional[int] = ..., paid_on: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...

class HolderConsent(_message.Message):
    __slots__ = ("granted", "terms_version")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    TERMS_VERSION_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    terms_version: str
    def __init__(self, granted: _Optional[bool] = ..., terms_version: _Optional[str] = ...) -> None: ...

class GetConsentTermsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetConsentTermsResponse(_message.Message):
    __slots__ = ("terms_version", "purpose", "data_kept", "retention_days")
    TERMS_VERSION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DATA_KEPT_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    terms_version: str
    purpose: str
    data_kept: _containers.RepeatedScalarFieldContainer[str]
    retention_days: int
    def __init__(self, terms_version: _Optional[str] = ..., purpose: _Optional[str] = ..., data_kept: _Optional[_Iterable[str]] = ..., retention_days: _Optional[int] = ...) -> None: ...

class ExportSubjectDataRequest(_message.Message):
    __slots__ = ("cccd_number", "verification_id", "operator")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    verification_id: str
    operator: Operator
    def __init__(self, cccd_number: _Optional[str] = ..., verification_id: _Optional[str] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class ExportSubjectDataResponse(_message.Message):
    __slots__ = ("export_json", "request_id", "export_time")
    EXPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    export_json: str
    request_id: str
    export_time: _timestamp_pb2.Timestamp
    def __init__(self, export_json: _Optional[str] = ..., request_id: _Optional[str] = ..., export_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteFaceTemplateRequest(_message.Message):
    __slots__ = ("cccd_number", "verification_id", "operator")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    verification_id: str
    operator: Operator
    def __init__(self, cccd_number: _Optional[str] = ..., verification_id: _Optional[str] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class DeleteFaceTemplateResponse(_message.Message):
    __slots__ = ("deleted", "request_id", "delete_time")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    request_id: str
    delete_time: _timestamp_pb2.Timestamp
    def __init__(self, deleted: _Optional[bool] = ..., request_id: _Optional[str] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WithdrawConsentRequest(_message.Message):
    __slots__ = ("cccd_number", "verification_id", "operator")
    CCCD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    cccd_number: str
    verification_id: str
    operator: Operator
    def __init__(self, cccd_number: _Optional[str] = ..., verification_id: _Optional[str] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class WithdrawConsentResponse(_message.Message):
    __slots__ = ("consents_withdrawn", "template_deleted", "request_id", "withdraw_time")
    CONSENTS_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_DELETED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WITHDRAW_TIME_FIELD_NUMBER: _ClassVar[int]
    consents_withdrawn: int
    template_deleted: bool
    request_id: str
    withdraw_time: _timestamp_pb2.Timestamp
    def __init__(self, consents_withdrawn: _Optional[int] = ..., template_deleted: _Optional[bool] = ..., request_id: _Optional[str] = ..., withdraw_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LoadTrustAnchorsRequest(_message.Message):
    __slots__ = ("csca_certificates", "master_lists", "crls", "document_signers")
    CSCA_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    MASTER_LISTS_FIELD_NUMBER: _ClassVar[int]
    CRLS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SIGNERS_FIELD_NUMBER: _ClassVar[int]
    csca_certificates: _containers.RepeatedScalarFieldContainer[bytes]
    master_lists: _containers.RepeatedScalarFieldContainer[bytes]
    crls: _containers.RepeatedScalarFieldContainer[bytes]
    document_signers: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, csca_certificates: _Optional[_Iterable[bytes]] = ..., master_lists: _Optional[_Iterable[bytes]] = ..., crls: _Optional[_Iterable[bytes]] = ..., document_signers: _Optional[_Iterable[bytes]] = ...) -> None: ...

class LoadTrustAnchorsResponse(_message.Message):
    __slots__ = ("csca_added", "crls_added", "csca_total")
    CSCA_ADDED_FIELD_NUMBER: _ClassVar[int]
    CRLS_ADDED_FIELD_NUMBER: _ClassVar[int]
    CSCA_TOTAL_FIELD_NUMBER: _ClassVar[int]
    csca_added: int
    crls_added: int
    csca_total: int
    def __init__(self, csca_added: _Optional[int] = ..., crls_added: _Optional[int] = ..., csca_total: _Optional[int] = ...) -> None: ...

class ImportEntitlementsRequest(_message.Message):
    __slots__ = ("content", "format", "dry_run")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    format: ImportFormat
    dry_run: bool
    def __init__(self, content: _Optional[bytes] = ..., format: _Optional[_Union[ImportFormat, str]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class RowError(_message.Message):
    __slots__ = ("row", "field", "message")
    ROW_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row: int
    field: str
    message: str
    def __init__(self, row: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ImportEntitlementsResponse(_message.Message):
    __slots__ = ("imported_count", "errors", "valid_count", "errors_truncated")
    IMPORTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    VALID_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    imported_count: int
    errors: _containers.RepeatedCompositeFieldContainer[RowError]
    valid_count: int
    errors_truncated: bool
    def __init__(self, imported_count: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RowError, _Mapping]]] = ..., valid_count: _Optional[int] = ..., errors_truncated: _Optional[bool] = ...) -> None: ...

class VerifyAuditChainRequest(_message.Message):
    __slots__ = ("checkpoints",)
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, checkpoints: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAuditCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAuditCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "record_count", "head_hash", "checkpoint_time")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TIME_FIELD_NUMBER: _ClassVar[int]
    checkpoint: str
    record_count: int
    head_hash: str
    checkpoint_time: _timestamp_pb2.Timestamp
    def __init__(self, checkpoint: _Optional[str] = ..., record_count: _Optional[int] = ..., head_hash: _Optional[str] = ..., checkpoint_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VerifyAuditChainResponse(_message.Message):
    __slots__ = ("ok", "record_count", "first_broken_record", "detail")
    OK_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_BROKEN_RECORD_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    record_count: int
    first_broken_record: int
    detail: str
    def __init__(self, ok: _Optional[bool] = ..., record_count: _Optional[int] = ..., first_broken_record: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class RegisterTerminalKeyRequest(_message.Message):
    __slots__ = ("terminal_id", "public_key")
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    terminal_id: str
    public_key: bytes
    def __init__(self, terminal_id: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class RegisterTerminalKeyResponse(_message.Message):
    __slots__ = ("register_time",)
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    register_time: _timestamp_pb2.Timestamp
    def __init__(self, register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeTerminalCertificateRequest(_message.Message):
    __slots__ = ("certificate", "reason")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    certificate: bytes
    reason: RevocationReason
    def __init__(self, certificate: _Optional[bytes] = ..., reason: _Optional[_Union[RevocationReason, str]] = ...) -> None: ...

class RevokeTerminalCertificateResponse(_message.Message):
    __slots__ = ("certificate_sha256", "terminal_id", "revoke_time", "already_revoked", "reason")
    CERTIFICATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    ALREADY_REVOKED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    certificate_sha256: str
    terminal_id: str
    revoke_time: _timestamp_pb2.Timestamp
    already_revoked: bool
    reason: RevocationReason
    def __init__(self, certificate_sha256: _Optional[str] = ..., terminal_id: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., already_revoked: _Optional[bool] = ..., reason: _Optional[_Union[RevocationReason, str]] = ...) -> None: ...

class FraudFact(_message.Message):
    __slots__ = ("name", "subject", "count", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    subject: str
    count: int
    detail: str
    def __init__(self, name: _Optional[str] = ..., subject: _Optional[str] = ..., count: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class ReviewCase(_message.Message):
    __slots__ = ("verification_id", "facility_code", "terminal_id", "terminal_kind", "reasons", "assurance_level", "face_distance", "face_threshold", "fraud_history", "state", "open_time", "expire_time", "resolve_time", "reviewer", "resolution_reason")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    FACILITY_CODE_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_KIND_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    FACE_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    FACE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FRAUD_HISTORY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_REASON_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    facility_code: str
    terminal_id: str
    terminal_kind: TerminalKind
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    assurance_level: AssuranceLevel
    face_distance: float
    face_threshold: float
    fraud_history: _containers.RepeatedCompositeFieldContainer[FraudFact]
    state: ReviewState
    open_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    reviewer: str
    resolution_reason: str
    def __init__(self, verification_id: _Optional[str] = ..., facility_code: _Optional[str] = ..., terminal_id: _Optional[str] = ..., terminal_kind: _Optional[_Union[TerminalKind, str]] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., assurance_level: _Optional[_Union[AssuranceLevel, str]] = ..., face_distance: _Optional[float] = ..., face_threshold: _Optional[float] = ..., fraud_history: _Optional[_Iterable[_Union[FraudFact, _Mapping]]] = ..., state: _Optional[_Union[ReviewState, str]] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reviewer: _Optional[str] = ..., resolution_reason: _Optional[str] = ...) -> None: ...

class ListReviewCasesRequest(_message.Message):
    __slots__ = ("page_size",)
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    def __init__(self, page_size: _Optional[int] = ...) -> None: ...

class ListReviewCasesResponse(_message.Message):
    __slots__ = ("cases",)
    CASES_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[ReviewCase]
    def __init__(self, cases: _Optional[_Iterable[_Union[ReviewCase, _Mapping]]] = ...) -> None: ...

class ResolveReviewCaseRequest(_message.Message):
    __slots__ = ("verification_id", "resolution", "reason")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    resolution: ReviewState
    reason: str
    def __init__(self, verification_id: _Optional[str] = ..., resolution: _Optional[_Union[ReviewState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ResolveReviewCaseResponse(_message.Message):
    __slots__ = ("review_case", "entitlement", "attestation")
    REVIEW_CASE_FIELD_NUMBER: _ClassVar[int]
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    review_case: ReviewCase
    entitlement: Entitlement
    attestation: str
    def __init__(self, review_case: _Optional[_Union[ReviewCase, _Mapping]] = ..., entitlement: _Optional[_Union[Entitlement, _Mapping]] = ..., attestation: _Optional[str] = ...) -> None: ...

class GetReviewCaseRequest(_message.Message):
    __slots__ = ("verification_id",)
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    def __init__(self, verification_id: _Optional[str] = ...) -> None: ...

class GetReviewCaseResponse(_message.Message):
    __slots__ = ("review_case", "entitlement", "attestation")
    REVIEW_CASE_FIELD_NUMBER: _ClassVar[int]
    ENTITLEMENT_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    review_case: ReviewCase
    entitlement: Entitlement
    attestation: str
    def __init__(self, review_case: _Optional[_Union[ReviewCase, _Mapping]] = ..., entitlement: _Optional[_Union[Entitlement, _Mapping]] = ..., attestation: _Optional[str] = ...) -> None: ...

class RegisterHolderRequest(_message.Message):
    __slots__ = ("verification_id", "terminal_id", "phone_e164", "email", "social_insurance_number", "integrity_token")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_E164_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    SOCIAL_INSURANCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INTEGRITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    terminal_id: str
    phone_e164: str
    email: str
    social_insurance_number: str
    integrity_token: str
    def __init__(self, verification_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., phone_e164: _Optional[str] = ..., email: _Optional[str] = ..., social_insurance_number: _Optional[str] = ..., integrity_token: _Optional[str] = ...) -> None: ...

class Registration(_message.Message):
    __slots__ = ("registration_id", "status", "assurance_level", "integrity_verdict", "social_insurance_number", "create_time", "supersedes_registration_id", "attestation")
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    INTEGRITY_VERDICT_FIELD_NUMBER: _ClassVar[int]
    SOCIAL_INSURANCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDES_REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    registration_id: str
    status: RegistrationStatus
    assurance_level: AssuranceLevel
    integrity_verdict: IntegrityVerdict
    social_insurance_number: str
    create_time: _timestamp_pb2.Timestamp
    supersedes_registration_id: str
    attestation: str
    def __init__(self, registration_id: _Optional[str] = ..., status: _Optional[_Union[RegistrationStatus, str]] = ..., assurance_level: _Optional[_Union[AssuranceLevel, str]] = ..., integrity_verdict: _Optional[_Union[IntegrityVerdict, str]] = ..., social_insurance_number: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., supersedes_registration_id: _Optional[str] = ..., attestation: _Optional[str] = ...) -> None: ...

class RegisterHolderResponse(_message.Message):
    __slots__ = ("decision", "reasons", "registration")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    registration: Registration
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., registration: _Optional[_Union[Registration, _Mapping]] = ...) -> None: ...

class CheckinDetails(_message.Message):
    __slots__ = ("ma_lk", "ma_bn", "ma_doituong_kcb", "ma_loai_kcb")
    MA_LK_FIELD_NUMBER: _ClassVar[int]
    MA_BN_FIELD_NUMBER: _ClassVar[int]
    MA_DOITUONG_KCB_FIELD_NUMBER: _ClassVar[int]
    MA_LOAI_KCB_FIELD_NUMBER: _ClassVar[int]
    ma_lk: str
    ma_bn: str
    ma_doituong_kcb: str
    ma_loai_kcb: str
    def __init__(self, ma_lk: _Optional[str] = ..., ma_bn: _Optional[str] = ..., ma_doituong_kcb: _Optional[str] = ..., ma_loai_kcb: _Optional[str] = ...) -> None: ...

class CheckinRecord(_message.Message):
    __slots__ = ("verification_id", "attestation_id", "xml", "expire_time")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_ID_FIELD_NUMBER: _ClassVar[int]
    XML_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    attestation_id: str
    xml: bytes
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, verification_id: _Optional[str] = ..., attestation_id: _Optional[str] = ..., xml: _Optional[bytes] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCheckinRecordRequest(_message.Message):
    __slots__ = ("verification_id",)
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    verification_id: str
    def __init__(self, verification_id: _Optional[str] = ...) -> None: ...

class GetCheckinRecordResponse(_message.Message):
    __slots__ = ("checkin_record",)
    CHECKIN_RECORD_FIELD_NUMBER: _ClassVar[int]
    checkin_record: CheckinRecord
    def __init__(self, checkin_record: _Optional[_Union[CheckinRecord, _Mapping]] = ...) -> None: ...

class ReconcileClaimsRequest(_message.Message):
    __slots__ = ("file_name", "window_minutes", "chunk")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    window_minutes: int
    chunk: bytes
    def __init__(self, file_name: _Optional[str] = ..., window_minutes: _Optional[int] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DossierResult(_message.Message):
    __slots__ = ("index", "ma_lk", "status", "verification_id", "attestation_id", "assurance_level", "amount", "reason", "facility")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MA_LK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_ID_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FACILITY_FIELD_NUMBER: _ClassVar[int]
    index: int
    ma_lk: str
    status: DossierStatus
    verification_id: str
    attestation_id: str
    assurance_level: AssuranceLevel
    amount: str
    reason: str
    facility: str
    def __init__(self, index: _Optional[int] = ..., ma_lk: _Optional[str] = ..., status: _Optional[_Union[DossierStatus, str]] = ..., verification_id: _Optional[str] = ..., attestation_id: _Optional[str] = ..., assurance_level: _Optional[_Union[AssuranceLevel, str]] = ..., amount: _Optional[str] = ..., reason: _Optional[str] = ..., facility: _Optional[str] = ...) -> None: ...

class ClaimsClassTotal(_message.Message):
    __slots__ = ("status", "count", "amount")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    status: DossierStatus
    count: int
    amount: str
    def __init__(self, status: _Optional[_Union[DossierStatus, str]] = ..., count: _Optional[int] = ..., amount: _Optional[str] = ...) -> None: ...

class ReconcileSummary(_message.Message):
    __slots__ = ("dossier_count", "classes", "facility", "declared_count", "window_minutes")
    DOSSIER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    FACILITY_FIELD_NUMBER: _ClassVar[int]
    DECLARED_COUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    dossier_count: int
    classes: _containers.RepeatedCompositeFieldContainer[ClaimsClassTotal]
    facility: str
    declared_count: int
    window_minutes: int
    def __init__(self, dossier_count: _Optional[int] = ..., classes: _Optional[_Iterable[_Union[ClaimsClassTotal, _Mapping]]] = ..., facility: _Optional[str] = ..., declared_count: _Optional[int] = ..., window_minutes: _Optional[int] = ...) -> None: ...

class ReconcileClaimsResponse(_message.Message):
    __slots__ = ("dossiers", "bytes_read", "summary")
    DOSSIERS_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    dossiers: _containers.RepeatedCompositeFieldContainer[DossierResult]
    bytes_read: int
    summary: ReconcileSummary
    def __init__(self, dossiers: _Optional[_Iterable[_Union[DossierResult, _Mapping]]] = ..., bytes_read: _Optional[int] = ..., summary: _Optional[_Union[ReconcileSummary, _Mapping]] = ...) -> None: ...

"""Typed results of the gateway's RPCs, free of protobuf types for callers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from google.protobuf.json_format import MessageToDict

from bhytgate_client.v1 import gateway_pb2 as pb


def enum_name(enum: Any, value: int, prefix: str) -> str:
    """DECISION_ACCEPTED -> "ACCEPTED"; unknown numbers stay visible rather than crash."""
    try:
        name = str(enum.Name(value))
    except ValueError:
        return f"UNKNOWN_{value}"
    return name[len(prefix) :] if name.startswith(prefix) else name


@dataclasses.dataclass(frozen=True)
class Operator:
    full_name: str
    cccd_number: str

    def to_proto(self) -> pb.Operator:
        return pb.Operator(full_name=self.full_name, cccd_number=self.cccd_number)


@dataclasses.dataclass(frozen=True)
class Frame:
    image: bytes
    timestamp_ms: int

    def to_proto(self) -> pb.CaptureFrame:
        return pb.CaptureFrame(image=self.image, timestamp_ms=self.timestamp_ms)


@dataclasses.dataclass(frozen=True)
class Challenge:
    challenge_id: str
    nonce: bytes
    aa_challenge: bytes
    liveness_actions: tuple[str, ...]  # "TURN_LEFT" | "TURN_RIGHT" | "BLINK"
    expire_time: dt.datetime
    required_assurance_level: str

    @classmethod
    def from_proto(cls, msg: pb.BeginVerificationResponse) -> Challenge:
        return cls(
            challenge_id=msg.challenge_id,
            nonce=msg.nonce,
            aa_challenge=msg.aa_challenge,
            liveness_actions=tuple(
                enum_name(pb.LivenessAction, a, "LIVENESS_ACTION_") for a in msg.liveness_actions
            ),
            expire_time=msg.expire_time.ToDatetime(tzinfo=dt.UTC),
            required_assurance_level=enum_name(
                pb.AssuranceLevel, msg.required_assurance_level, "ASSURANCE_LEVEL_"
            ),
        )


@dataclasses.dataclass(frozen=True)
class VerificationResult:
    verification_id: str
    decision: str  # "ACCEPTED" | "REJECTED" | "REVIEW"
    reasons: tuple[tuple[str, str], ...]  # (code, detail)
    assurance_level: str | None
    face_distance: float | None
    face_threshold: float | None
    entitlement: dict[str, Any] | None
    attestation: str | None
    stage_timings: dict[str, float]
    checks: dict[str, str]
    retry_hint: str | None = None  # RETRY: "HOLD_CARD_STILL" | "FACE_THE_CAMERA" | "TRY_AGAIN_SHORTLY"
    retry_message: str | None = None
    review_expire_time: dt.datetime | None = None  # REVIEW: poll GetReviewCase until then
    # ACCEPTED only: the QĐ 4750 check-in record (XML) for the hospital system to send to BHXH.
    checkin_record: str | None = None

    @property
    def accepted(self) -> bool:
        return self.decision == "ACCEPTED"

    @property
    def reason_codes(self) -> list[str]:
        return [code for code, _ in self.reasons]

    @classmethod
    def from_proto(cls, msg: pb.VerifyResponse) -> VerificationResult:
        level = enum_name(pb.AssuranceLevel, msg.assurance_level, "ASSURANCE_LEVEL_")
        return cls(
            verification_id=msg.verification_id,
            decision=enum_name(pb.Decision, msg.decision, "DECISION_"),
            reasons=tuple((enum_name(pb.ReasonCode, r.code, "REASON_CODE_"), r.detail) for r in msg.reasons),
            assurance_level=None if level == "UNSPECIFIED" else level,
            face_distance=msg.face_distance if msg.HasField("face_distance") else None,
            face_threshold=msg.face_threshold if msg.HasField("face_threshold") else None,
            entitlement=(
                MessageToDict(
                    msg.entitlement,
                    preserving_proto_field_name=True,
                    always_print_fields_with_no_presence=True,
                )
                if msg.HasField("entitlement")
                else None
            ),
            attestation=msg.attestation or None,
            stage_timings={t.stage: t.millis for t in msg.stage_timings},
            checks={
                enum_name(pb.Check, c.check, "CHECK_"): enum_name(pb.CheckStatus, c.status, "CHECK_STATUS_")
                for c in msg.checks
            },
            retry_hint=None if not msg.retry_hint else enum_name(pb.RetryHint, msg.retry_hint, "RETRY_HINT_"),
            retry_message=msg.retry_message or None,
            review_expire_time=msg.review_expire_time.ToDatetime(dt.UTC)
            if msg.HasField("review_expire_time")
            else None,
            checkin_record=msg.checkin_record.xml.decode("utf-8") if msg.HasField("checkin_record") else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "verification_id": self.verification_id,
            "decision": self.decision,
            "reasons": [{"code": c, "detail": d} for c, d in self.reasons],
            "assurance_level": self.assurance_level,
            "face_distance": self.face_distance,
            "face_threshold": self.face_threshold,
            "entitlement": self.entitlement,
            "attestation": self.attestation,
            "checks": self.checks,
            "stage_timings_ms": self.stage_timings,
            "retry_hint": self.retry_hint,
            "retry_message": self.retry_message,
            "review_expire_time": self.review_expire_time.isoformat() if self.review_expire_time else None,
            "checkin_record": self.checkin_record,
        }

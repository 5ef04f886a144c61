"""The VerificationService servicer: authenticate the caller, validate and translate, call the
gateway, translate back. Decides nothing; failures map to statuses in `rpc.py` (`_rpc`)."""

from __future__ import annotations

import functools

import grpc

from bhytgate import ids
from bhytgate.api.convert import entitlement_to_proto
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.pki.devca import TerminalRole
from bhytgate.policy.model import Outcome, TerminalKind
from bhytgate.policy.retry import MESSAGES as RETRY_MESSAGES
from bhytgate.policy.retry import RetryHint
from bhytgate.service.claims_servicer import CheckinRecordRpc, checkin_details, checkin_record_proto
from bhytgate.service.gateway import InvalidRequest, VerifyInput, VerifyResult
from bhytgate.service.rpc import (
    DECISIONS,
    KIND_TO_PB,
    KINDS,
    LEVELS,
    VERIFY_ROLES,
    Ctx,
    _Abort,
    _Base,
    _choice,
    _frames,
    _operator,
    _rpc,
    _valid,
    reason_code,
    timestamp,
)

PURPOSES = {pb.PURPOSE_CHECK_IN: "check_in", pb.PURPOSE_COUNTER_SERVICE: "counter_service"}
RETRY_HINTS = {
    RetryHint.HOLD_CARD_STILL: pb.RETRY_HINT_HOLD_CARD_STILL,
    RetryHint.FACE_THE_CAMERA: pb.RETRY_HINT_FACE_THE_CAMERA,
    RetryHint.TRY_AGAIN_SHORTLY: pb.RETRY_HINT_TRY_AGAIN_SHORTLY,
}
ACTIONS = {
    "turn_left": pb.LIVENESS_ACTION_TURN_LEFT,
    "turn_right": pb.LIVENESS_ACTION_TURN_RIGHT,
    "blink": pb.LIVENESS_ACTION_BLINK,
}
ANY_ROLE = frozenset(role.value for role in TerminalRole)


class VerificationServicer(_Base, CheckinRecordRpc, pb_grpc.VerificationServiceServicer):
    @functools.cached_property
    def _plaintext_kinds(self) -> dict[str, int]:
        """In plaintext mode, the terminal kind each challenge was taken for (the newest 10 000)."""
        return {}

    @_rpc
    async def BeginVerification(
        self, request: pb.BeginVerificationRequest, context: Ctx
    ) -> pb.BeginVerificationResponse:
        violations: list[tuple[str, str]] = []
        _choice(violations, "terminal_kind", request.terminal_kind, KINDS, pb.TerminalKind)
        if request.purpose:  # a hint: unspecified is fine, a value this contract does not define is not
            _choice(violations, "purpose", request.purpose, PURPOSES, pb.Purpose)
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        if request.facility_code:
            _valid(violations, "facility_code", ids.facility_code, request.facility_code)
        _operator(request.operator, "operator", violations, required=False)
        if violations:
            raise InvalidRequest(violations)
        caller = self.caller(
            context, VERIFY_ROLES, claimed_id=request.terminal_id, claimed_kind=request.terminal_kind
        )
        if request.facility_code and not self.config.plaintext and request.facility_code != caller.facility:
            # The facility is the certificate's, as the terminal id is: a terminal cannot claim
            # to check in at another facility (the check-in record and claims carry it).
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED, "facility_code differs from the client certificate"
            )
        result = await self.gateway.begin(caller)
        if self.config.plaintext:
            self._plaintext_kinds[result.challenge_id] = request.terminal_kind
            while len(self._plaintext_kinds) > 10_000:
                self._plaintext_kinds.pop(next(iter(self._plaintext_kinds)))
        return pb.BeginVerificationResponse(
            challenge_id=result.challenge_id,
            nonce=result.nonce,
            aa_challenge=result.aa_challenge,
            liveness_actions=[ACTIONS[a] for a in result.actions],
            expire_time=timestamp(result.expire_time),
            terminal_kind=KIND_TO_PB[result.kind],
            required_assurance_level=LEVELS[result.required_level],
        )

    @_rpc
    async def Verify(self, request: pb.VerifyRequest, context: Ctx) -> pb.VerifyResponse:
        cfg = self.config
        violations: list[tuple[str, str]] = []
        _valid(violations, "challenge_id", ids.challenge_id, request.challenge_id)
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        credential = request.WhichOneof("credential")
        chip_files: dict[str, bytes] | None = None
        qr: tuple[str, str] | None = None
        if credential is None:
            violations.append(("credential", "one of chip or qr is required"))
        elif credential == "chip":
            chip_files = {}
            for field, name, required in (
                ("ef_sod", "EF.SOD", True),
                ("dg1", "DG1", True),
                ("dg2", "DG2", False),  # none on cards of children under 6: NO_CHIP_PORTRAIT
                ("dg13", "DG13", True),
                ("dg14", "DG14", False),
                ("dg15", "DG15", False),
            ):
                data = getattr(request.chip, field)
                if not data:
                    if required:
                        violations.append((f"chip.{field}", "required"))
                    continue
                if len(data) > cfg.max_chip_file_bytes:
                    violations.append((f"chip.{field}", f"over {cfg.max_chip_file_bytes} bytes"))
                    continue  # refused: keep no copy
                chip_files[name] = data
        else:
            kind = _choice(
                violations,
                "qr.qr_kind",
                request.qr.qr_kind,
                {pb.QR_KIND_CCCD_QR: "cccd", pb.QR_KIND_BHYT_QR: "bhyt"},
                pb.QrKind,
            )
            _valid(violations, "qr.qr_text", ids.qr_text, request.qr.qr_text)
            qr = (kind or "", request.qr.qr_text)
        signatures = None
        if request.HasField("active_auth"):
            signatures = [bytes(s) for s in request.active_auth.signatures]
            if len(signatures) != 4:
                violations.append(("active_auth.signatures", "exactly four signatures, one per 8-byte chunk"))
            if any(not s or len(s) > 1024 for s in signatures):
                violations.append(("active_auth.signatures", "each must be 1-1024 bytes"))
        guardian = None
        if request.guardian_verification_id:
            guardian = _valid(
                violations, "guardian_verification_id", ids.verification_id, request.guardian_verification_id
            )
        # A guardian-verified child may come without frames (nothing is compared with them).
        frames = _frames(request.frames, cfg, violations) if request.frames or guardian is None else []
        terminal_signature = None
        if request.HasField("terminal_signature"):
            sig = request.terminal_signature
            if not sig.signature or len(sig.signature) > 1024:
                violations.append(("terminal_signature.signature", "required, 1-1024 bytes"))
            _valid(violations, "terminal_signature.key_id", ids.key_id, sig.key_id)
            terminal_signature = (bytes(sig.signature), sig.key_id)
        # Malformed input is refused before anything else is looked at (the caller's identity
        # included): a claimed terminal_id with a trailing newline is INVALID_ARGUMENT, not a
        # PERMISSION_DENIED that depends on the certificate.
        operator = _operator(request.operator, "operator", violations, required=False)
        checkin = checkin_details(request.checkin, violations)
        if violations:
            raise InvalidRequest(violations)
        # In plaintext mode the kind is the one the terminal claimed when it took the challenge.
        # Read, not removed, until the check ran: a call shed by admission may be sent again.
        claimed = self._plaintext_kinds.get(request.challenge_id, 0) if self.config.plaintext else 0
        caller = self.caller(context, VERIFY_ROLES, claimed_id=request.terminal_id, claimed_kind=claimed)
        if operator is None and caller.kind is TerminalKind.DESK:
            raise InvalidRequest([("operator", "required")])
        result = await self.gateway.verify(
            caller,
            VerifyInput(
                challenge_id=request.challenge_id,
                frames=frames,
                chip_files=chip_files,
                qr=qr,
                aa_signatures=signatures,
                terminal_signature=terminal_signature,
                operator=operator,
                guardian=guardian,
                checkin=checkin,
            ),
            timeout=self.timeout(context),
        )
        self._plaintext_kinds.pop(request.challenge_id, None)
        return verify_response(result)

    @_rpc
    async def GetAttestationKeys(
        self, request: pb.GetAttestationKeysRequest, context: Ctx
    ) -> pb.GetAttestationKeysResponse:
        self.caller(context, ANY_ROLE)  # public keys, but not for a revoked certificate
        return pb.GetAttestationKeysResponse(jwks_json=self.gateway.jwks())

    @_rpc
    async def GetCheckinRecord(
        self, request: pb.GetCheckinRecordRequest, context: Ctx
    ) -> pb.GetCheckinRecordResponse:
        return await self._get_checkin_record(request, context, VERIFY_ROLES)


def verify_response(result: VerifyResult) -> pb.VerifyResponse:
    response = pb.VerifyResponse(
        verification_id=result.verification_id,
        decision=DECISIONS[result.outcome],
        reasons=[pb.Reason(code=reason_code(r.code), detail=r.detail) for r in result.reasons],  # type: ignore[arg-type]
        assurance_level=LEVELS.get(result.assurance_level, pb.ASSURANCE_LEVEL_UNSPECIFIED)  # type: ignore[arg-type]
        if result.assurance_level
        else pb.ASSURANCE_LEVEL_UNSPECIFIED,
        stage_timings=[pb.StageTiming(stage=s, millis=m) for s, m in result.timings],
        checks=[
            pb.CheckOutcome(check=f"CHECK_{name}", status=f"CHECK_STATUS_{status}")
            for name, status in result.checks.items()
        ],
        verify_time=timestamp(result.verify_time),
    )
    if result.face_distance is not None:
        response.face_distance = result.face_distance
    if result.face_threshold is not None:
        response.face_threshold = result.face_threshold
    if result.outcome is Outcome.RETRY and result.retry_hint is not None:
        hint = RetryHint(result.retry_hint)
        response.retry_hint = RETRY_HINTS[hint]  # type: ignore[assignment]
        response.retry_message = RETRY_MESSAGES[hint]
    if result.outcome is Outcome.REVIEW and result.review_expires is not None:
        response.review_expire_time.CopyFrom(timestamp(result.review_expires))
    if (
        result.outcome is Outcome.ACCEPTED
        and result.entitlement is not None
        and result.entitlement_check is not None
    ):
        response.entitlement.CopyFrom(entitlement_to_proto(result.entitlement, result.entitlement_check))
        response.attestation = result.attestation or ""
        if result.checkin is not None:
            response.checkin_record.CopyFrom(checkin_record_proto(result.checkin))
    return response

"""The AdminService servicer: authenticate the administrator, validate and translate, call the
gateway, translate back. Decides nothing; failures map to statuses in `rpc.py` (`_rpc`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhytgate import ids
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.service.claims_servicer import ReconcileClaimsRpc
from bhytgate.service.gateway import InvalidRequest
from bhytgate.service.revocation import MAX_CERTIFICATE_BYTES, RevocationReason
from bhytgate.service.rpc import Ctx, _Base, _choice, _rpc, _valid, timestamp
from bhytgate.service.slots import PerKeySlots

MAX_CHECKPOINTS = 1000

_REVOCATION_REASON_CODES = {
    RevocationReason.KEY_COMPROMISE: pb.REVOCATION_REASON_KEY_COMPROMISE,
    RevocationReason.DEVICE_LOST: pb.REVOCATION_REASON_DEVICE_LOST,
    RevocationReason.SUPERSEDED: pb.REVOCATION_REASON_SUPERSEDED,
    RevocationReason.CESSATION_OF_OPERATION: pb.REVOCATION_REASON_CESSATION_OF_OPERATION,
}
_REVOCATION_REASONS = {code: reason for reason, code in _REVOCATION_REASON_CODES.items()}


class AdminServicer(_Base, ReconcileClaimsRpc, pb_grpc.AdminServiceServicer):
    ROLES = frozenset({"admin"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claims_streams = PerKeySlots(
            self.config.claims_streams_per_terminal, "claims_streams_per_terminal"
        )

    @_rpc
    async def LoadTrustAnchors(
        self, request: pb.LoadTrustAnchorsRequest, context: Ctx
    ) -> pb.LoadTrustAnchorsResponse:
        caller = self.caller(context, self.ROLES)
        added, crls, total = await self.gateway.load_trust(
            caller,
            list(request.csca_certificates),
            list(request.master_lists),
            list(request.crls),
            list(request.document_signers),
        )
        return pb.LoadTrustAnchorsResponse(csca_added=added, crls_added=crls, csca_total=total)

    @_rpc
    async def ImportEntitlements(
        self, request: pb.ImportEntitlementsRequest, context: Ctx
    ) -> pb.ImportEntitlementsResponse:
        caller = self.caller(context, self.ROLES)
        violations: list[tuple[str, str]] = []
        fmt = _choice(
            violations,
            "format",
            request.format,
            {pb.IMPORT_FORMAT_CSV: "csv", pb.IMPORT_FORMAT_JSONL: "jsonl"},
            pb.ImportFormat,
        )
        if fmt is None:
            raise InvalidRequest(violations)
        imported, valid, errors = await self.gateway.import_entitlements(
            caller, request.content, fmt, dry_run=request.dry_run
        )
        limit = 1000
        return pb.ImportEntitlementsResponse(
            imported_count=imported,
            valid_count=valid,
            errors=[pb.RowError(row=e.row, field=e.field, message=e.message) for e in errors[:limit]],
            errors_truncated=len(errors) > limit,
        )

    @_rpc
    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: Ctx
    ) -> pb.VerifyAuditChainResponse:
        caller = self.caller(context, self.ROLES)
        if len(request.checkpoints) > MAX_CHECKPOINTS:
            raise InvalidRequest([("checkpoints", f"at most {MAX_CHECKPOINTS}")])
        ok, count, broken, detail = await self.gateway.verify_audit(
            list(request.checkpoints), facility=caller.facility
        )
        response = pb.VerifyAuditChainResponse(ok=ok, record_count=count, detail="" if ok else detail)
        if broken is not None:
            response.first_broken_record = broken
        return response

    @_rpc
    async def GetAuditCheckpoint(
        self, request: pb.GetAuditCheckpointRequest, context: Ctx
    ) -> pb.GetAuditCheckpointResponse:
        # The fund's auditor is who keeps checkpoints outside the facility's database.
        self.caller(context, self.ROLES | {"auditor"})
        token, checkpoint = await self.gateway.audit_checkpoint()
        return pb.GetAuditCheckpointResponse(
            checkpoint=token,
            record_count=checkpoint.size,
            head_hash=checkpoint.head,
            checkpoint_time=timestamp(checkpoint.issued_at),
        )

    @_rpc
    async def RegisterTerminalKey(
        self, request: pb.RegisterTerminalKeyRequest, context: Ctx
    ) -> pb.RegisterTerminalKeyResponse:
        caller = self.caller(context, self.ROLES)
        violations: list[tuple[str, str]] = []
        _valid(violations, "terminal_id", ids.terminal_id, request.terminal_id)
        if not 1 <= len(request.public_key) <= 4096:
            violations.append(("public_key", "required, at most 4096 bytes"))
        if violations:
            raise InvalidRequest(violations)
        await self.gateway.register_terminal_key(caller, request.terminal_id, bytes(request.public_key))
        return pb.RegisterTerminalKeyResponse(register_time=timestamp(dt.datetime.now(dt.UTC)))

    @_rpc
    async def RevokeTerminalCertificate(
        self, request: pb.RevokeTerminalCertificateRequest, context: Ctx
    ) -> pb.RevokeTerminalCertificateResponse:
        caller = self.caller(context, self.ROLES)
        violations: list[tuple[str, str]] = []
        reason = _choice(violations, "reason", request.reason, _REVOCATION_REASONS, pb.RevocationReason)
        if not 1 <= len(request.certificate) <= MAX_CERTIFICATE_BYTES:
            violations.append(("certificate", f"required, at most {MAX_CERTIFICATE_BYTES} bytes"))
        if violations or reason is None:
            raise InvalidRequest(violations)
        kept, added = await self.gateway.revoke_certificate(caller, bytes(request.certificate), reason)
        return pb.RevokeTerminalCertificateResponse(
            certificate_sha256=kept.sha256,
            terminal_id=kept.terminal_id,
            revoke_time=timestamp(kept.revoked_at),
            already_revoked=not added,
            reason=_REVOCATION_REASON_CODES[RevocationReason(kept.reason)],
        )

"""GatewayClient's AdminService calls: trust anchors, entitlements, device keys, certificate
revocation, the audit chain. A mixin of `client.GatewayClient` (its stub `admin` and `_call`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bhytgate_client.errors import GatewayError
from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_client.v1 import gateway_pb2_grpc as pb_grpc

# The revocation reasons by name (RevokeTerminalCertificate).
REVOCATION_REASONS = {
    "key_compromise": pb.REVOCATION_REASON_KEY_COMPROMISE,
    "device_lost": pb.REVOCATION_REASON_DEVICE_LOST,
    "superseded": pb.REVOCATION_REASON_SUPERSEDED,
    "cessation_of_operation": pb.REVOCATION_REASON_CESSATION_OF_OPERATION,
}

# VerifyAuditChain's bound on checkpoints per call (the gateway refuses more: INVALID_ARGUMENT).
MAX_CHECKPOINTS_PER_CALL = 1000
_CHECKPOINT_FIELD = re.compile(r"checkpoints\[(\d+)\]")


def _shift_index(field: str, start: int) -> str:
    """`checkpoints[i]` of a call that sent the checkpoints from `start` on, as their place in all."""
    return _CHECKPOINT_FIELD.sub(lambda m: f"checkpoints[{int(m.group(1)) + start}]", field)


def _broken_at(response: pb.VerifyAuditChainResponse) -> int:
    return response.first_broken_record if response.HasField("first_broken_record") else 2**63


class AdminCalls:
    admin: pb_grpc.AdminServiceStub

    if TYPE_CHECKING:

        def _call(self, method: Callable[..., object], request: object) -> object: ...

    def load_trust(
        self,
        cscas: Sequence[bytes] = (),
        master_lists: Sequence[bytes] = (),
        crls: Sequence[bytes] = (),
        document_signers: Sequence[bytes] = (),
    ) -> pb.LoadTrustAnchorsResponse:
        request = pb.LoadTrustAnchorsRequest(
            csca_certificates=list(cscas),
            master_lists=list(master_lists),
            crls=list(crls),
            document_signers=list(document_signers),
        )
        response = self._call(self.admin.LoadTrustAnchors, request)
        assert isinstance(response, pb.LoadTrustAnchorsResponse)
        return response

    def import_entitlements(
        self, content: bytes, fmt: str, *, dry_run: bool = False
    ) -> pb.ImportEntitlementsResponse:
        formats = {"csv": pb.IMPORT_FORMAT_CSV, "jsonl": pb.IMPORT_FORMAT_JSONL}
        request = pb.ImportEntitlementsRequest(content=content, format=formats[fmt], dry_run=dry_run)
        response = self._call(self.admin.ImportEntitlements, request)
        assert isinstance(response, pb.ImportEntitlementsResponse)
        return response

    def register_terminal_key(self, terminal_id: str, public_key: bytes) -> None:
        """Require `terminal_id`'s captures to be signed with this device key, on every replica."""
        request = pb.RegisterTerminalKeyRequest(terminal_id=terminal_id, public_key=public_key)
        self._call(self.admin.RegisterTerminalKey, request)

    def revoke_certificate(self, certificate: bytes, reason: str) -> pb.RevokeTerminalCertificateResponse:
        """Refuse every call made with this client certificate (PEM or DER), on every replica.
        `reason`: key_compromise, device_lost, superseded or cessation_of_operation."""
        code = REVOCATION_REASONS.get(reason)
        if code is None:
            raise ValueError(f"reason must be one of {', '.join(REVOCATION_REASONS)}")
        request = pb.RevokeTerminalCertificateRequest(certificate=certificate, reason=code)
        response = self._call(self.admin.RevokeTerminalCertificate, request)
        assert isinstance(response, pb.RevokeTerminalCertificateResponse)
        return response

    def verify_audit(self, checkpoints: Sequence[str] = ()) -> pb.VerifyAuditChainResponse:
        """The chain, its index, and each checkpoint kept outside the gateway (`audit_checkpoint`).

        A call takes at most MAX_CHECKPOINTS_PER_CALL checkpoints, and a file of them appended
        once an hour passes that in six weeks: more are sent in several calls (each a full check).
        The report is the failing call's whose first broken record comes first, else the last
        call's; a checkpoint the gateway refuses is named by its place in `checkpoints`."""
        tokens = list(checkpoints)
        failed: pb.VerifyAuditChainResponse | None = None
        response: pb.VerifyAuditChainResponse | None = None
        for start in range(0, max(len(tokens), 1), MAX_CHECKPOINTS_PER_CALL):
            request = pb.VerifyAuditChainRequest(checkpoints=tokens[start : start + MAX_CHECKPOINTS_PER_CALL])
            try:
                got = self._call(self.admin.VerifyAuditChain, request)
            except GatewayError as exc:
                if not start or not exc.violations:
                    raise
                raise GatewayError(
                    exc.code,
                    exc.message,
                    [(_shift_index(v.field, start), v.description) for v in exc.violations],
                    exc.retry_after,
                ) from None
            assert isinstance(got, pb.VerifyAuditChainResponse)
            response = got
            if not response.ok and (failed is None or _broken_at(response) < _broken_at(failed)):
                failed = response
        assert response is not None
        return failed or response

    def audit_checkpoint(self) -> pb.GetAuditCheckpointResponse:
        """A signed checkpoint of the audit log now: keep `checkpoint` outside the gateway."""
        response = self._call(self.admin.GetAuditCheckpoint, pb.GetAuditCheckpointRequest())
        assert isinstance(response, pb.GetAuditCheckpointResponse)
        return response

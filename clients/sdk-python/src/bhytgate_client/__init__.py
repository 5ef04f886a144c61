"""Python client SDK for the BHYT verification gateway (the `bhytgate-client` distribution).

Depends on grpcio, protobuf and cryptography only. A desk check-in:

    from bhytgate_client import GatewayClient, Frame, Operator, relay_active_auth, verify_attestation

    with GatewayClient.connect("gw.example:443", terminal_id="desk-01", ca=ca, cert=cert, key=key) as client:
        result = client.check_in(
            chip_files,                                    # {"EF.SOD": ..., "DG1": ..., ...} as read
            lambda challenge: [Frame(camera.jpeg(), now_ms())],
            answer_challenge=lambda c: relay_active_auth(c, reader.internal_authenticate),
            terminal_kind="desk", operator=Operator("Lê Thu", "001080000001"),
        )
        if result.accepted:
            check = verify_attestation(result.attestation, client.attestation_keys())

Every RPC error becomes a `GatewayError` with the gRPC code, any field violations and any retry
delay. Modules: `client` (GatewayClient, with its `admin_calls` and `review_calls`), `errors`
(GatewayError), `results`, `targets` (addresses, load balancing, retry policy), `home` (a local dev
gateway's files), `activeauth` (the chip relay), `signing` (the terminal-signature payload),
`attestation` (offline ES256 verification), `status` (error details), `v1` (the generated stubs).
The names below load their module on first use, so that importing a pure helper
(`bhytgate_client.signing`, `.activeauth`, `.attestation`) does not load gRPC.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from bhytgate_client.activeauth import relay_active_auth
    from bhytgate_client.attestation import AttestationCheck, AttestationStatus, verify_attestation
    from bhytgate_client.client import GatewayClient, GatewayError, now_ms
    from bhytgate_client.home import GatewayHome
    from bhytgate_client.results import Challenge, Frame, Operator, VerificationResult
    from bhytgate_client.signing import frames_signing_payload
    from bhytgate_client.status import FieldViolation

_EXPORTS = {
    "AttestationCheck": "attestation",
    "AttestationStatus": "attestation",
    "Challenge": "results",
    "FieldViolation": "status",
    "Frame": "results",
    "GatewayClient": "client",
    "GatewayError": "client",
    "GatewayHome": "home",
    "Operator": "results",
    "VerificationResult": "results",
    "frames_signing_payload": "signing",
    "now_ms": "client",
    "relay_active_auth": "activeauth",
    "verify_attestation": "attestation",
}

__all__ = [
    "AttestationCheck",
    "AttestationStatus",
    "Challenge",
    "FieldViolation",
    "Frame",
    "GatewayClient",
    "GatewayError",
    "GatewayHome",
    "Operator",
    "VerificationResult",
    "frames_signing_payload",
    "now_ms",
    "relay_active_auth",
    "verify_attestation",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

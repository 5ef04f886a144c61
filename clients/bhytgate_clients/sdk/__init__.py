"""Python client SDK for the BHYT verification gateway.

    with GatewayClient.local(terminal="desk-01") as client:
        result = client.check_in(chip_files, frames, answer_challenge=chip.answer_challenge,
                                 terminal_kind="desk", operator=Operator("Lê Thu", "001080000001"))
        if result.accepted: ...

Every RPC error becomes a `GatewayError` with the gRPC code and any field violations.
"""

from bhytgate_clients.sdk.client import GatewayClient, GatewayError
from bhytgate_clients.sdk.home import GatewayHome
from bhytgate_clients.sdk.results import Challenge, Frame, Operator, VerificationResult

__all__ = [
    "Challenge",
    "Frame",
    "GatewayClient",
    "GatewayError",
    "GatewayHome",
    "Operator",
    "VerificationResult",
]

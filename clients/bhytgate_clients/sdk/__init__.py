"""The Python client SDK, as the `bhytgate` command and the tests have always imported it.

The one implementation is the light `bhytgate-client` distribution (clients/sdk-python, package
`bhytgate_client`: grpcio, protobuf and cryptography only); this package and its modules
(`client`, `home`, `results`, `targets`) re-export it unchanged.

    with GatewayClient.local(terminal="desk-01") as client:
        result = client.check_in(chip_files, frames, answer_challenge=chip.answer_challenge,
                                 terminal_kind="desk", operator=Operator("Lê Thu", "001080000001"))
        if result.accepted: ...

Every RPC error becomes a `GatewayError` with the gRPC code and any field violations.
"""

from bhytgate_client.client import GatewayClient, GatewayError
from bhytgate_client.home import GatewayHome
from bhytgate_client.results import Challenge, Frame, Operator, VerificationResult

__all__ = [
    "Challenge",
    "Frame",
    "GatewayClient",
    "GatewayError",
    "GatewayHome",
    "Operator",
    "VerificationResult",
]

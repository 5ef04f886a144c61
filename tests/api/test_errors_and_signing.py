"""Rich INVALID_ARGUMENT status over a real grpc.aio server on loopback, and the signing payload."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import grpc.aio
import pytest

from bhytgate.api import codegen
from bhytgate.api.errors import FieldViolation, abort_invalid_argument, field_violations
from bhytgate.api.signing import frames_signing_payload
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.api.v1 import gateway_pb2_grpc as pb_grpc
from bhytgate.face.liveness import SIGNING_DOMAIN as DOMAIN


class _Rejecting(pb_grpc.VerificationServiceServicer):
    async def Verify(
        self,
        request: pb.VerifyRequest,
        context: grpc.aio.ServicerContext[pb.VerifyRequest, pb.VerifyResponse],
    ) -> pb.VerifyResponse:
        await abort_invalid_argument(
            context,
            [("challenge_id", "is required"), FieldViolation("chip.ef_sod", "is not DER")],
        )


async def _call() -> grpc.aio.AioRpcError:
    server = grpc.aio.server()
    pb_grpc.add_VerificationServiceServicer_to_server(_Rejecting(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.VerificationServiceStub(channel)
            begun: pb.BeginVerificationResponse = (
                await stub.BeginVerification(pb.BeginVerificationRequest(), timeout=10)
                if False
                else pb.BeginVerificationResponse()
            )
            assert begun.challenge_id == ""
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Verify(pb.VerifyRequest(), timeout=10)
            return info.value
    finally:
        await server.stop(None)


def test_invalid_argument_carries_field_violations() -> None:
    err = asyncio.run(_call())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err) == [
        FieldViolation("challenge_id", "is required"),
        FieldViolation("chip.ef_sod", "is not DER"),
    ]


def test_signing_payload_layout() -> None:
    frames = [(b"a", 1), (b"b", 2)]
    payload = frames_signing_payload(bytes(range(32)), frames)
    expected = (
        DOMAIN
        + (32).to_bytes(2, "big")
        + bytes(range(32))
        + (2).to_bytes(2, "big")
        + hashlib.sha256(b"a").digest()
        + (1).to_bytes(8, "big")
        + hashlib.sha256(b"b").digest()
        + (2).to_bytes(8, "big")
    )
    assert payload == expected
    assert frames_signing_payload(bytes(range(32)), frames[::-1]) != payload
    # the layout documented on TerminalSignature in the proto
    proto = (codegen.DEFAULT_PROTO_ROOT / "bhytgate/v1/gateway.proto").read_text()
    assert '"BHYTGATE-LIVENESS-V1\\n" || u16 len(nonce) || nonce || u16 number of frames' in proto


def test_a_status_with_many_violations_fits_a_clients_trailer_limit() -> None:
    """Attack run 2026-12-02: one violation per bad repeated item made a trailer over gRPC's
    client limit (16 KiB hard, 8 KiB soft): the caller saw RESOURCE_EXHAUSTED, not INVALID_ARGUMENT."""
    from bhytgate.api.errors import MAX_VIOLATIONS, bad_request_status

    status = bad_request_status(
        [(f"frames[{i}].image", "not a JPEG, PNG or JPEG 2000 image") for i in range(1000)]
        + [("chip.ef_sod", "does not parse: " + "9" * 5000)]
    )
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.details == f"invalid request ({MAX_VIOLATIONS} of 1001 field violations listed)"
    assert sum(len(k) + len(v) + 32 for k, v in status.trailing_metadata) < 4096
    short = bad_request_status([("chip.ef_sod", "does not parse: " + "9" * 5000)])
    assert short.details == "invalid request"
    assert sum(len(k) + len(v) + 32 for k, v in short.trailing_metadata) < 1024

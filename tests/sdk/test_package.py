"""The light SDK package in this environment: one implementation behind every old import path, the
pure helpers free of gRPC, its declared requirements matching the generated code, and its helpers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grpc
import pytest

import bhytgate_client
from bhytgate_client import activeauth, attestation, signing, status
from bhytgate_client.client import GatewayError

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "sdk-python"


def test_the_old_import_paths_are_the_same_objects() -> None:
    import bhytgate.api.errors
    import bhytgate.api.signing
    import bhytgate.attestation
    import bhytgate.face.liveness
    import bhytgate_clients.sdk
    import bhytgate_clients.sdk.home
    import bhytgate_clients.sdk.results
    import bhytgate_clients.sdk.targets
    from bhytgate_client import home, results, targets

    assert bhytgate_clients.sdk.GatewayClient is bhytgate_client.GatewayClient
    assert bhytgate_clients.sdk.GatewayError is bhytgate_client.GatewayError
    assert bhytgate_clients.sdk.results.Frame is results.Frame
    assert bhytgate_clients.sdk.home.GatewayHome is home.GatewayHome
    assert bhytgate_clients.sdk.targets.channel_target is targets.channel_target
    # The wire-level definitions the gateway checks against are the SDK's, not copies.
    assert bhytgate.api.signing.frames_signing_payload is signing.frames_signing_payload
    assert bhytgate.face.liveness.signing_payload is signing.signing_payload
    assert bhytgate.face.liveness.SIGNING_DOMAIN is signing.SIGNING_DOMAIN
    assert bhytgate.api.errors.field_violations is status.field_violations
    assert bhytgate.attestation.verify_attestation is attestation.verify_attestation
    assert bhytgate.attestation.AttestationClaims is attestation.AttestationClaims


def test_the_package_exports_load_lazily() -> None:
    assert sorted(bhytgate_client.__all__) == sorted(bhytgate_client._EXPORTS)
    for name in bhytgate_client.__all__:
        assert getattr(bhytgate_client, name) is not None
    with pytest.raises(AttributeError):
        _ = bhytgate_client.NoSuchThing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "module",
    [
        "bhytgate_client.signing",
        "bhytgate_client.activeauth",
        "bhytgate_client.attestation",
        "bhytgate.face.liveness",  # imports the signing payload from the SDK
    ],
)
def test_the_pure_helpers_load_no_grpc(module: str) -> None:
    """What the gateway's face library imports from the SDK keeps that library free of gRPC."""
    code = (
        f"import sys, {module}; print([m for m in sys.modules if m.startswith(('grpc', 'google.protobuf'))])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def test_the_requirements_match_the_generated_code() -> None:
    deps = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(re.split(r"[<>=!~]", d)[0] for d in deps) == ["cryptography", "grpcio", "protobuf"]
    v1 = CLIENT / "src" / "bhytgate_client" / "v1"
    grpc_version = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", (v1 / "gateway_pb2_grpc.py").read_text())
    pb_version = re.search(
        r"Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),", (v1 / "gateway_pb2.py").read_text(), re.MULTILINE
    )
    assert grpc_version and pb_version
    major = pb_version.group(1)
    assert f"grpcio>={grpc_version.group(1)}" in deps
    assert f"protobuf>={'.'.join(pb_version.groups())},<{int(major) + 1}" in deps


def test_relay_sends_each_chunk_in_order_and_keeps_the_answers() -> None:
    challenge = bytes(range(32))
    sent: list[bytes] = []

    def chip(data: bytes) -> bytes:
        sent.append(data)
        return b"sig-" + data[:1]

    assert activeauth.relay_active_auth(challenge, chip) == [
        b"sig-\x00",
        b"sig-\x08",
        b"sig-\x10",
        b"sig-\x18",
    ]
    assert sent == [challenge[0:8], challenge[8:16], challenge[16:24], challenge[24:32]]
    with pytest.raises(ValueError, match="multiple of 8"):
        activeauth.relay_active_auth(b"\x00" * 31, chip)
    with pytest.raises(ValueError, match="INTERNAL AUTHENTICATE 1 returned no response data"):
        activeauth.relay_active_auth(challenge, lambda data: b"")


class FakeError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, status: grpc.Status) -> None:
        self._code, self._status = code, status

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return str(self._status.details)

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return tuple(self._status.trailing_metadata)


def test_gateway_error_reads_violations_and_retry_delay_without_grpcio_status() -> None:
    """The statuses the gateway builds (with grpcio-status), read by the SDK's mirror of google.rpc."""
    from bhytgate.api.errors import bad_request_status, retry_status

    bad = bad_request_status([("challenge_id", "is required"), ("frames[0].image", "is not an image")])
    err = GatewayError.from_rpc_error(FakeError(grpc.StatusCode.INVALID_ARGUMENT, bad))
    assert err.code == "INVALID_ARGUMENT" and err.message == "invalid request"
    assert err.violations == [("challenge_id", "is required"), ("frames[0].image", "is not an image")]
    assert err.violations[0].field == "challenge_id" and err.retry_after is None

    limited = retry_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "60 a minute", 22.3)
    err = GatewayError.from_rpc_error(FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED, limited))
    assert err.retry_after == pytest.approx(22.3) and err.violations == []

    # Details of another status (a proxy rewrote the code) are not this error's.
    err = GatewayError.from_rpc_error(FakeError(grpc.StatusCode.UNAVAILABLE, bad))
    assert err.code == "UNAVAILABLE" and err.violations == []


def test_unreadable_details_are_no_details() -> None:
    class Garbage(grpc.RpcError):
        def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
            return ((status.DETAILS_KEY, b"\xff\xff\xff"),)

    assert status.status_details(Garbage()) is None
    assert status.field_violations(Garbage()) == [] and status.retry_after(Garbage()) is None
    assert status.field_violations(object()) == []

"""The memory all requests together may hold: a request that does not fit beside those in progress
is RESOURCE_EXHAUSTED at once (with a retry delay) and dropped, over the real gRPC socket; a
configuration whose budget could never admit the largest request is refused at start."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.service.config import load_config
from bhytgate.service.server import start_gateway
from bhytgate.service.wire import MiB, RequestBudget
from bhytgate_client.status import retry_after

from .conftest import Deployment


def _verify_of(size: int) -> pb.VerifyRequest:
    """A Verify whose frames weigh `size` bytes (it never reaches a check: refused before)."""
    return pb.VerifyRequest(
        challenge_id="0" * 32,
        terminal_id="probe-desk",
        frames=[pb.CaptureFrame(image=b"\xff\xd8\xff\xe0" + b"\x00" * (size - 4), timestamp_ms=1)],
    )


def test_a_request_beyond_the_budget_is_refused_at_once_and_the_budget_comes_back(
    deployment: Deployment,
) -> None:
    budget = deployment.running.requests
    assert budget is not None and budget.held == 0
    limit = budget.limit
    budget.limit = 3 * MiB
    assert budget.take(2 * MiB)  # another call's request, in progress
    try:
        with deployment.client("probe-desk") as desk:
            with pytest.raises(grpc.RpcError) as busy:
                desk.verification.Verify(_verify_of(2 * MiB), timeout=30)
            assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "MiB of requests in progress" in (busy.value.details() or "")
            assert retry_after(busy.value) == 1.0
            budget.give(2 * MiB)  # that call ended: the same request now goes through
            with pytest.raises(grpc.RpcError) as served:
                desk.verification.Verify(_verify_of(2 * MiB), timeout=30)
            assert served.value.code() != grpc.StatusCode.RESOURCE_EXHAUSTED, served.value.details()
    finally:
        budget.limit = limit
    assert budget.held == 0  # every call gave back what it took


def test_the_budget_always_admits_one_request_and_counts_what_is_held() -> None:
    budget = RequestBudget(10)
    assert budget.take(25)  # alone, whatever its size (the start refuses a budget under the largest)
    assert not budget.take(1)
    budget.give(25)
    assert budget.take(6) and budget.take(4) and not budget.take(1)
    budget.give(6)
    budget.give(4)
    assert budget.held == 0


def test_a_budget_under_the_largest_request_is_refused_at_start(tmp_path: Path) -> None:
    config = load_config(tmp_path, listen="127.0.0.1:0", max_inflight_request_bytes=MiB)
    with pytest.raises(ValueError, match="max_inflight_request_bytes"):
        asyncio.run(start_gateway(config))
    assert not (tmp_path / "gateway.db").exists()  # refused before anything was opened


def test_connected_terminals_health_watches_take_no_call_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 2026-12-02: gRPC's `maximum_concurrent_rpcs` counts every call, the health service's
    Watch too, and every SDK channel holds one open while it is connected (client-side health
    checking). With the limit at 4, four connected terminals took every slot: their own next call
    was RESOURCE_EXHAUSTED and a fifth terminal could not connect (UNAVAILABLE, health check
    failed). At the default 64 that is 64 idle terminals. Only the gateway's own calls count."""
    from bhytgate_client.client import GatewayClient, GatewayError

    from .conftest import ServerThread

    insecure = grpc.insecure_channel

    def own_subchannels(target: str, options: list[tuple[str, object]] | None = None, **kw: object) -> object:
        # One process per terminal in the field; here one subchannel (and Watch) per client.
        return insecure(target, options=[*(options or []), ("grpc.use_local_subchannel_pool", 1)], **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(grpc, "insecure_channel", own_subchannels)
    config = load_config(tmp_path, listen="127.0.0.1:0", workers=1, plaintext=True, max_concurrent_rpcs=4)
    server = ServerThread(config)
    running = server.start()
    clients: list[GatewayClient] = []
    try:
        for n in range(6):
            clients.append(
                GatewayClient.connect(f"127.0.0.1:{running.port}", terminal_id=f"k{n}", plaintext=True)
            )
            try:
                clients[-1].attestation_keys()
            except GatewayError as exc:
                pytest.fail(f"terminal {n}: {exc}")
        for client in clients:
            client.attestation_keys()  # the connected ones are served too
    finally:
        for client in clients:
            client.close()
        server.stop()


def test_calls_beyond_the_limit_are_refused_before_being_read_and_every_slot_comes_back(
    deployment: Deployment,
) -> None:
    calls = deployment.running.calls
    assert calls is not None and calls.active == 0
    with deployment.client("probe-desk") as desk:
        calls.active = calls.limit  # every slot held by calls in progress
        try:
            with pytest.raises(grpc.RpcError) as busy:
                desk.verification.Verify(_verify_of(2 * MiB), timeout=30)
            assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_concurrent_rpcs" in (busy.value.details() or "")
            assert retry_after(busy.value) == 1.0
        finally:
            calls.active = 0
        # Served, refused by the servicer (INVALID_ARGUMENT), or cancelled by the caller's deadline:
        # each gives its slot back.
        desk.attestation_keys()
        with pytest.raises(grpc.RpcError):
            desk.verification.Verify(_verify_of(2 * MiB), timeout=30)
        with pytest.raises(grpc.RpcError):
            desk.verification.Verify(_verify_of(2 * MiB), timeout=0.001)
    deadline = time.monotonic() + 10  # the server sees the last one's cancellation a moment later
    while calls.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert calls.active == 0

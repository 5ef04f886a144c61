"""The memory all requests together may hold: a request that does not fit beside those in progress
is RESOURCE_EXHAUSTED at once (with a retry delay) and dropped, over the real gRPC socket; a
configuration whose budget could never admit the largest request is refused at start."""

from __future__ import annotations

import asyncio
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

"""A Verify shed by admission (RESOURCE_EXHAUSTED) consumed nothing: the SDK sends it again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time

import pytest

from bhytgate.service.workers import Overloaded
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import read_chip_files
from bhytgate_clients.sdk import GatewayClient, GatewayError

from .conftest import Deployment
from .test_e2e import OPERATOR, live_photos


def _shed_count(d: Deployment) -> float:
    return float(d.running.metrics.registry.get_sample_value("bhytgate_shed_total") or 0.0)


async def _fill_until_shed(d: Deployment, full: threading.Event) -> None:
    """Take every admission place, then give them back as soon as one call has been shed."""
    pool = d.running.pool
    deadline = time.monotonic() + 30
    while pool.inflight and time.monotonic() < deadline:  # a job left by an earlier test
        await asyncio.sleep(0.01)
    async with contextlib.AsyncExitStack() as stack:
        while True:
            try:
                await stack.enter_async_context(pool.slot("single"))  # the kind the probe sends
            except Overloaded:
                break
        before = _shed_count(d)
        full.set()
        deadline = time.monotonic() + 20
        while _shed_count(d) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.001)


def _desk_check_while_full(d: Deployment, client: GatewayClient) -> object:
    card = d.card("obama")
    camera = SimulatedCamera(live_photos(d, card))
    chip = SimulatedChip.from_dump(card)
    challenge = client.begin(terminal_kind="desk", operator=OPERATOR)  # the connection is up
    full = threading.Event()
    holder = asyncio.run_coroutine_threadsafe(_fill_until_shed(d, full), d.server.loop)
    assert full.wait(10)
    try:
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        return client.verify(
            challenge,
            chip_files=read_chip_files(card),
            aa_signatures=chip.answer_challenge(challenge.aa_challenge),
            frames=camera.single(now),
            operator=OPERATOR,
        )
    finally:
        holder.result(30)


def test_a_shed_verify_is_sent_again_and_succeeds(deployment: Deployment) -> None:
    before = _shed_count(deployment)
    with GatewayClient.local("clean-desk", home=deployment.home, timeout_s=60) as client:
        result = _desk_check_while_full(deployment, client)
    assert _shed_count(deployment) > before  # it was refused once...
    assert getattr(result, "decision", None) == "ACCEPTED"  # ...and accepted on a later attempt


def test_without_retries_the_caller_sees_resource_exhausted(deployment: Deployment) -> None:
    client = GatewayClient.local("clean-desk", home=deployment.home, timeout_s=60, retry_shed=False)
    with client, pytest.raises(GatewayError) as err:
        _desk_check_while_full(deployment, client)
    assert err.value.code == "RESOURCE_EXHAUSTED"

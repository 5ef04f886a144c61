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


async def _hold_overload(d: Deployment, ready: threading.Event, release: threading.Event) -> None:
    """A standing queue: the face queue stood for two intervals and admission is full."""
    pool = d.running.pool
    deadline = time.monotonic() + 30
    while pool.inflight and time.monotonic() < deadline:  # a job left by an earlier test
        await asyncio.sleep(0.01)
    interval_ms = pool.admission.overload_interval_s * 1000.0
    pool.standing.waited(time.monotonic() * 1000.0 - 2 * interval_ms, 60_000.0, 0.0)
    async with contextlib.AsyncExitStack() as stack:
        while True:
            try:
                await stack.enter_async_context(pool.slot("single"))
            except Overloaded:
                break
        assert pool.overloaded
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 20)


def test_in_overload_mode_begin_is_refused_before_a_challenge_is_issued(deployment: Deployment) -> None:
    """The holder is not asked to present a card and turn their head for a check the gateway would
    refuse: BeginVerification says RESOURCE_EXHAUSTED, the overload bound named, nothing issued;
    once the queue has drained the same terminal begins again."""
    d = deployment
    pool = d.running.pool
    before = _shed_count(d)
    with GatewayClient.local("clean-desk", home=d.home, timeout_s=60, retry_shed=False) as client:
        client.begin(terminal_kind="desk", operator=OPERATOR)  # the connection is up
        ready, release = threading.Event(), threading.Event()
        holder = asyncio.run_coroutine_threadsafe(_hold_overload(d, ready, release), d.server.loop)
        try:
            assert ready.wait(10)
            with pytest.raises(GatewayError) as err:
                client.begin(terminal_kind="desk", operator=OPERATOR)
        finally:
            release.set()
            holder.result(30)
        assert err.value.code == "RESOURCE_EXHAUSTED"
        assert "by overload mode" in str(err.value) or "waiting (limit" in str(err.value)
        assert _shed_count(d) > before
        deadline = time.monotonic() + 10
        while pool.overloaded and time.monotonic() < deadline:  # dry for two average jobs
            time.sleep(0.05)
        assert not pool.overloaded
        assert client.begin(terminal_kind="desk", operator=OPERATOR).challenge_id

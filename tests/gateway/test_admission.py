"""Admission control of the face worker pool: refuse at once beyond workers + queue_limit."""

from __future__ import annotations

import asyncio

import pytest

from bhytgate.face import FaceConfig
from bhytgate.service.workers import FacePool, Overloaded


def test_slots_are_bounded_and_released() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=2, queue_limit=1)  # not started: admission only
        async with pool.slot(), pool.slot(), pool.slot():
            assert pool.inflight == 3 and pool.queue_depth == 1
            with pytest.raises(Overloaded):
                async with pool.slot():
                    pass
        assert pool.inflight == 0
        async with pool.slot():  # freed places are usable again
            assert pool.inflight == 1

    asyncio.run(scenario())


def test_a_failing_check_releases_its_slot() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=0)
        with pytest.raises(RuntimeError):
            async with pool.slot():
                raise RuntimeError("check failed")
        async with pool.slot():
            assert pool.inflight == 1

    asyncio.run(scenario())

"""VerifyAuditChain's checkpoint signatures are checked on the audit check's own thread, not the
event loop (attack run: up to 1,000 ES256 verifications a call held every RPC of the replica).

The thread is observed with a profile hook on the real `verify_checkpoint`: nothing is replaced."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, cast

import pytest

from bhytgate.attestation import generate_key
from bhytgate.audit import AuditEvent, append_event
from bhytgate.audit.checkpoint import AuditCheckpoint, sign_checkpoint, verify_checkpoint
from bhytgate.service.admin import AdminService
from bhytgate.service.model import Busy, InvalidRequest
from bhytgate.storage.sql import SqliteStore

NOW = dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)
KEY = generate_key()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "gate.db", template_key=None)
    for n in range(3):
        append_event(store, AuditEvent(f"v-{n}", NOW, "ACCEPTED", "01001", "desk-01"), b"k" * 32)
    yield store
    store.close()


def _service(store: SqliteStore) -> AdminService:
    """The administrator's service as VerifyAuditChain calls it (the parts an audit check does not
    use left out)."""
    none = cast(Any, None)
    return AdminService(
        store, none, none, none, none, attestation_key=KEY, clock=lambda: NOW, issuer="bhytgate-test"
    )


def _verify_watching(service: AdminService, tokens: Sequence[str]) -> tuple[Any, list[str], str]:
    """verify_audit's result (or the exception it raised), the threads verify_checkpoint ran on,
    and the event loop's thread. threading.setprofile reaches the audit thread: the service's
    executor starts it on first use, after the hook is set."""
    code = verify_checkpoint.__code__
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is code:
            seen.append(threading.current_thread().name)

    async def main() -> tuple[Any, str]:
        loop_thread = threading.current_thread().name
        try:
            return await service.verify_audit(tokens), loop_thread
        except InvalidRequest as exc:
            return exc, loop_thread

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        result, loop_thread = asyncio.run(main())
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return result, seen, loop_thread


def test_checkpoints_are_verified_on_the_audit_thread(store: SqliteStore) -> None:
    size, head = store.audit_head()
    token = sign_checkpoint(AuditCheckpoint("bhytgate-test", size, head, NOW), KEY)
    result, seen, loop_thread = _verify_watching(_service(store), [token] * 40)
    assert result == (True, 3, None, "ok")
    assert len(seen) == 40 and loop_thread not in seen
    assert {name.split("_")[0] for name in seen} == {"audit-check"}


def test_a_refused_checkpoint_is_named_as_before_and_checked_off_the_loop(store: SqliteStore) -> None:
    size, head = store.audit_head()
    good = sign_checkpoint(AuditCheckpoint("bhytgate-test", size, head, NOW), KEY)
    foreign = sign_checkpoint(AuditCheckpoint("bhytgate-test", size, head, NOW), generate_key())
    result, seen, loop_thread = _verify_watching(_service(store), [good, foreign, "x.y", good])
    assert isinstance(result, InvalidRequest)
    assert [field for field, _ in result.violations] == ["checkpoints[1]", "checkpoints[2]"]
    assert result.violations[1][1].startswith("not a compact JWS: ")
    assert "not signed by a key of this gateway's JWKS" in result.violations[0][1]
    assert len(seen) == 4 and loop_thread not in seen


def test_a_rewritten_log_is_reported_as_before(store: SqliteStore) -> None:
    size, _ = store.audit_head()
    other = sign_checkpoint(AuditCheckpoint("bhytgate-test", size, "ab" * 32, NOW), KEY)
    result, _, _ = _verify_watching(_service(store), [other])
    assert result[:3] == (False, 3, size - 1) and "rewritten since" in result[3]


def test_a_second_audit_check_while_one_runs_is_refused_at_once(store: SqliteStore) -> None:
    """Attack run 2026-12-03: 64 VerifyAuditChain calls of one admin queued behind the one-at-a-time
    lock, each holding a call slot, and every check-in of the replica was RESOURCE_EXHAUSTED."""
    service = _service(store)
    size, head = store.audit_head()
    # enough checkpoint signatures that the first check is still running when the second arrives
    tokens = [sign_checkpoint(AuditCheckpoint("bhytgate-test", size, head, NOW), KEY)] * 1000

    async def main() -> tuple[object, object, float]:
        first = asyncio.ensure_future(service.verify_audit(tokens))
        await asyncio.sleep(0)  # the first holds the turn
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await service.verify_audit()
            second: object = "ran"
        except Busy as exc:
            second = exc
        waited = loop.time() - started
        return await first, second, waited

    first, second, waited = asyncio.run(main())
    assert first == (True, 3, None, "ok")
    assert isinstance(second, Busy), second
    assert "an audit check is running on this replica" in str(second)
    assert second.retry_after_s >= 1 and waited < 0.05  # refused without waiting for the first
    # and once the first is done, the next one runs
    assert asyncio.run(service.verify_audit()) == (True, 3, None, "ok")


def test_a_facility_looping_audit_checks_does_not_keep_the_funds_from_running(store: SqliteStore) -> None:
    """Attack run 2026-12-03: one facility's admin retrying VerifyAuditChain in a loop took the turn
    again each time it freed, and the fund's check was refused over and over. Now the fund, refused
    once while the loop's check ran, is next: the loop's own retries are refused until it ran."""
    service = _service(store)
    size, head = store.audit_head()
    tokens = [sign_checkpoint(AuditCheckpoint("bhytgate-test", size, head, NOW), KEY)] * 300

    async def main() -> tuple[list[str], int]:
        ran: list[str] = []
        refused_loop = 0
        stop = False

        async def loop_admin() -> None:
            nonlocal refused_loop
            while not stop:
                try:
                    await service.verify_audit(tokens, facility="79014")
                    ran.append("79014")
                except Busy:
                    refused_loop += 1
                await asyncio.sleep(0)  # retries as fast as it can

        looping = asyncio.ensure_future(loop_admin())
        await asyncio.sleep(0.01)
        for _ in range(3):
            for _attempt in range(200):  # the fund retries as a client would, a little later
                try:
                    await service.verify_audit(facility="00000")
                    ran.append("00000")
                    break
                except Busy as exc:
                    assert exc.retry_after_s >= 1
                    await asyncio.sleep(0.005)
            else:
                break  # starved: the assertions below say so
        stop = True
        await looping
        return ran, refused_loop

    ran, refused_loop = asyncio.run(main())
    assert ran.count("00000") == 3
    # each of the fund's checks ran at most one of the loop's after it was first refused
    firsts = [i for i, who in enumerate(ran) if who == "00000"]
    assert all(b - a <= 2 for a, b in zip([-1, *firsts], firsts, strict=False)), ran
    assert refused_loop > 0

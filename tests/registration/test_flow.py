"""The registration flow as two replicas run it: two `RegistrationFlow`s, each with its own store
connection and lock (a PostgreSQL advisory lock, or on SQLite none shared), over one database.
Sessions are put as the recorder puts them after a Verify. Concurrent registrations of one CCCD
leave exactly one in force; the attempt limits are shared."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from storage.conftest import PG_DSN, StoreFactory, pg_dsn, store_factory  # noqa: F401

from bhytgate.attestation.jws import generate_key
from bhytgate.policy.model import Outcome, TerminalKind
from bhytgate.registration.model import Contact, ContactKind, RegistrationConfig, Status
from bhytgate.registration.service import RegisterInput, RegistrationFlow
from bhytgate.service.model import Caller, FailedPrecondition, RateLimited
from bhytgate.service.state import InProcessDocumentLock, PostgresDocumentLock, Session, Sessions

CCCD = "001185000123"
BHXH = "0112345678"
AUDIT_KEY = b"a" * 32


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def replica(factory: StoreFactory, config: RegistrationConfig) -> tuple[RegistrationFlow, Sessions]:
    store: Any = factory.open()
    sessions = Sessions(store, dt.timedelta(minutes=30))
    lock: Any = (
        # advisory locks are database-wide: the store's schema does not matter to them
        PostgresDocumentLock(PG_DSN, 5.0) if factory.kind == "postgres" else InProcessDocumentLock(5.0)
    )
    flow = RegistrationFlow(
        config,
        store,
        sessions,
        lock,
        gateway_id="test",
        audit_key=AUDIT_KEY,
        attestation_key=generate_key(),
        clock=now,
    )
    return flow, sessions


def verified(sessions: Sessions, terminal: str) -> str:
    """A passed phone verification of CCCD at the highest level, as the recorder keeps it."""
    vid = uuid.uuid4().hex
    session = Session(
        CCCD,
        terminal,
        True,
        Outcome.ACCEPTED,
        (),
        b"dg2-image",
        now(),
        ("NGUYEN VAN AN", "1990-03-15"),
        "chip_aa_face_liveness",
        uuid.uuid4().hex,
        facility="01001",
    )
    sessions.put(vid, session)
    return vid


def caller(terminal: str) -> Caller:
    return Caller(terminal, "01001", "hospital-checkin", TerminalKind.PHONE)


def test_concurrent_registrations_of_one_cccd_leave_one_in_force(store_factory: StoreFactory) -> None:  # noqa: F811
    config = dataclasses.replace(RegistrationConfig(), cccd_attempts=10)
    (a, sessions_a), (b, sessions_b) = replica(store_factory, config), replica(store_factory, config)
    a.store.link_cccd(CCCD, BHXH, "counter-01", now())
    contact = Contact(ContactKind.PHONE, "+84912345678")

    async def race() -> list[Any]:
        calls = []
        for flow, sessions, terminal in ((a, sessions_a, "phone-a"), (b, sessions_b, "phone-b")) * 3:
            vid = verified(sessions, terminal)
            calls.append(flow.register(caller(terminal), RegisterInput(vid, contact)))
        try:
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await a.doc_lock.close()
            await b.doc_lock.close()

    results = asyncio.run(race())
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert accepted and all(r.outcome is Outcome.ACCEPTED for r in accepted)
    # a loser of a race (SQLite has no lock shared by two processes) is told to retry, nothing else
    assert all(isinstance(r, FailedPrecondition) for r in results if isinstance(r, BaseException)), [
        repr(r)[:80] for r in results
    ]
    in_force = a.store.registration_in_force(CCCD)
    assert in_force is not None
    ids = {r.record.registration_id for r in accepted}
    assert in_force.registration_id in ids
    for rid in ids - {in_force.registration_id}:
        assert a.store.registration(rid).status is Status.SUPERSEDED
    if store_factory.kind == "postgres":
        assert len(accepted) == 6  # the advisory lock serialises them: each supersedes the last


def test_attempt_limits_are_shared_by_replicas(store_factory: StoreFactory) -> None:  # noqa: F811
    config = dataclasses.replace(RegistrationConfig(), cccd_attempts=2)
    (a, sessions_a), (b, sessions_b) = replica(store_factory, config), replica(store_factory, config)
    a.store.link_cccd(CCCD, BHXH, "counter-01", now())
    contact = Contact(ContactKind.EMAIL, "an@example.vn")

    async def attempts() -> None:
        try:
            first = await a.register(
                caller("phone-a"), RegisterInput(verified(sessions_a, "phone-a"), contact)
            )
            assert first.outcome is Outcome.ACCEPTED
            second = await b.register(
                caller("phone-b"), RegisterInput(verified(sessions_b, "phone-b"), contact)
            )
            assert second.outcome is Outcome.ACCEPTED
            with pytest.raises(RateLimited, match="2 attempts a day for this CCCD"):
                await a.register(caller("phone-a"), RegisterInput(verified(sessions_a, "phone-a"), contact))
        finally:
            await a.doc_lock.close()
            await b.doc_lock.close()

    asyncio.run(attempts())


def test_a_terminal_of_the_same_name_at_another_facility_cannot_use_the_verification(
    store_factory: StoreFactory,  # noqa: F811
) -> None:
    """Terminal ids repeat across facilities (every hospital may have a phone-a): a verification
    belongs to its terminal id *and* facility (found by an attack run: the id alone was compared)."""
    (flow, sessions) = replica(store_factory, RegistrationConfig())
    flow.store.link_cccd(CCCD, BHXH, "counter-01", now())
    vid = verified(sessions, "phone-a")  # made at 01001
    assert sessions.get(vid, now()).facility == "01001"  # type: ignore[union-attr]
    elsewhere = Caller("phone-a", "79014", "hospital-checkin", TerminalKind.PHONE)

    async def attempt() -> None:
        try:
            with pytest.raises(FailedPrecondition, match="another terminal"):
                await flow.register(
                    elsewhere, RegisterInput(vid, Contact(ContactKind.EMAIL, "an@example.vn"))
                )
        finally:
            await flow.doc_lock.close()

    asyncio.run(attempt())


def test_concurrent_attempts_with_one_verification_decide_once(store_factory: StoreFactory) -> None:  # noqa: F811
    """Attack run 2026-12-02: eight RegisterHolder calls at once with one verification that cannot
    register (REJECTED) were each decided and audited (5 REJECTED, the CCCD's whole daily budget,
    1 RESOURCE_EXHAUSTED): each had read the session before the CCCD's lock, and a rejection leaves
    no registration row to find. The session is read again under the lock: one attempt decides,
    the others find the verification spent, and only that one counts against the CCCD's limit."""
    from bhytgate.service.model import NotFound

    config = dataclasses.replace(RegistrationConfig(), cccd_attempts=3)
    flow, sessions = replica(store_factory, config)
    contact = Contact(ContactKind.PHONE, "+84912345678")
    vid = uuid.uuid4().hex
    sessions.put(
        vid,
        Session(
            CCCD,
            "phone-a",
            True,
            Outcome.REJECTED,
            (),
            b"dg2-image",
            now(),
            ("NGUYEN VAN AN", "1990-03-15"),
            "chip_face",
            uuid.uuid4().hex,
            facility="01001",
        ),
    )
    records = flow.store.audit_head()[0]

    async def race() -> list[Any]:
        try:
            calls = [flow.register(caller("phone-a"), RegisterInput(vid, contact)) for _ in range(8)]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await flow.doc_lock.close()

    results = asyncio.run(race())
    decided = [r for r in results if not isinstance(r, BaseException)]
    assert [r.outcome for r in decided] == [Outcome.REJECTED]
    assert all(isinstance(r, NotFound) for r in results if isinstance(r, BaseException)), results
    assert flow.store.audit_head()[0] == records + 1
    # Two attempts of the CCCD's three are left: a spent verification took none.
    flow2, sessions2 = replica(store_factory, config)

    async def two_more() -> list[Any]:
        try:
            return [
                await flow2.register(
                    caller("phone-a"), RegisterInput(verified(sessions2, "phone-a"), contact)
                )
                for _ in range(2)
            ]
        finally:
            await flow2.doc_lock.close()

    assert len(asyncio.run(two_more())) == 2

"""The registration tables on SQLite and PostgreSQL: one registration in force per CCCD, written
with its supersession, link and audit record all or nothing; attempt windows counted atomically."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from storage.conftest import StoreFactory, pg_dsn, store, store_factory  # noqa: F401

from bhytgate.audit.chain import AuditEvent, builder
from bhytgate.policy.model import AssuranceLevel
from bhytgate.registration.integrity import Verdict
from bhytgate.registration.model import Contact, ContactKind, RegistrationRecord, Status, Strength
from bhytgate.storage.registrations import RegistrationConflict

KEY = b"k" * 32
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
CCCD = "001185000123"


def record(**kw: Any) -> RegistrationRecord:
    base = RegistrationRecord(
        registration_id=uuid.uuid4().hex,
        cccd_number=CCCD,
        bhxh_number="0112345678",
        contact=Contact(ContactKind.PHONE, "+84912345678"),
        status=Status.ACTIVE,
        strength=Strength(AssuranceLevel.CHIP_AA_FACE_LIVENESS, Verdict.VERIFIED),
        verification_id=uuid.uuid4().hex,
        terminal_id="phone-01",
        facility="01001",
        created_at=NOW,
        attestation="a.b.c",
    )
    return dataclasses.replace(base, **kw)


def save(store: Any, rec: RegistrationRecord) -> None:  # noqa: F811
    event = AuditEvent(rec.registration_id, NOW, "ACCEPTED", "01001", "phone-01", action="register")
    store.save_registration(rec, builder(event, KEY), audit_id=rec.registration_id)


def test_one_registration_in_force_per_cccd(store: Any) -> None:  # noqa: F811
    first = record()
    save(store, first)
    got = store.registration_in_force(CCCD)
    assert got == first
    assert store.linked_bhxh(CCCD).bhxh_number == "0112345678"
    head = store.audit_head()[0]
    # a second one that does not name the one in force is refused, leaving nothing behind
    with pytest.raises(RegistrationConflict):
        save(store, record())
    assert store.audit_head()[0] == head
    # superseding it works, in one step
    second = record(
        supersedes=first.registration_id,
        bhxh_number="0199999999",
        contact=Contact(ContactKind.EMAIL, "a@b.vn"),
    )
    save(store, second)
    assert store.registration_in_force(CCCD).registration_id == second.registration_id
    assert store.registration(first.registration_id).status is Status.SUPERSEDED
    assert store.linked_bhxh(CCCD).bhxh_number == "0199999999"
    assert store.audit_head()[0] == head + 1
    # a stale supersession (the first is no longer in force) is refused
    with pytest.raises(RegistrationConflict):
        save(store, record(supersedes=first.registration_id))


def test_a_verification_makes_one_registration(store: Any) -> None:  # noqa: F811
    first = record()
    save(store, first)
    assert store.registration_used_verification(first.verification_id)
    with pytest.raises(RegistrationConflict):
        save(store, record(cccd_number="079099001234", verification_id=first.verification_id))


def test_pending_review_is_not_linked(store: Any) -> None:  # noqa: F811
    save(store, record(status=Status.PENDING_REVIEW))
    assert store.registration_in_force(CCCD).status is Status.PENDING_REVIEW
    assert store.linked_bhxh(CCCD) is None


def test_contact_is_sealed_at_rest(store: Any) -> None:  # noqa: F811
    rec = record(contact=Contact(ContactKind.EMAIL, "secret.person@example.vn"))
    save(store, rec)
    with store._read() as c:
        row = c.one(
            "SELECT contact_sealed FROM registrations WHERE registration_id = ?", (rec.registration_id,)
        )
    assert b"secret.person" not in bytes(row["contact_sealed"])
    assert store.registration(rec.registration_id).contact.value == "secret.person@example.vn"


def test_attempt_windows_count_atomically(store: Any) -> None:  # noqa: F811
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: store.hit_registration_window("reg-cccd:x", 3600, 7200), range(40)))
    assert sorted(counts) == list(range(1, 41))
    assert store.hit_registration_window("reg-cccd:x", 7200, 10800) == 1  # the next window starts afresh
    assert store.purge_registration_windows(7201) == 1
    assert store.hit_registration_window("reg-cccd:x", 3600, 7200) == 1

"""The revoked-certificate list on both engines, and the in-memory view every replica checks calls
against: a revocation is kept once (its first time and reason), the version moves with each new
one, and a second store on the same database (another replica) sees it after a refresh."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bhytgate.service.revocation import RevokedCertificates
from bhytgate.storage.revocations import Revocation
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory

T0 = dt.datetime(2026, 3, 3, 7, 30, tzinfo=dt.UTC)


def revocation(digest: str, reason: str = "device_lost", at: dt.datetime = T0) -> Revocation:
    return Revocation(digest, "kiosk-07", "01001", reason, "admin-01", at)


def test_a_certificate_is_revoked_once_with_its_first_reason(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    assert store.revocation_version() == 0 and store.revoked_certificates() == frozenset()
    first, added = store.revoke_certificate(revocation("a" * 64))
    assert added and first == revocation("a" * 64)
    again, added = store.revoke_certificate(
        revocation("a" * 64, "key_compromise", T0 + dt.timedelta(hours=1))
    )
    assert not added and again == first
    store.revoke_certificate(dataclasses.replace(revocation("b" * 64), terminal_id="kiosk-08"))
    assert store.revocation_version() == 2
    assert store.revoked_certificates() == frozenset({"a" * 64, "b" * 64})


def test_another_replica_sees_a_revocation_after_its_refresh(store_factory: StoreFactory) -> None:
    here, there = store_factory.open(), store_factory.open()
    assert isinstance(here, SqlStore) and isinstance(there, SqlStore)
    mine, theirs = RevokedCertificates(here), RevokedCertificates(there)
    here.revoke_certificate(revocation("c" * 64))
    mine.add("c" * 64)
    assert mine.is_revoked("c" * 64)
    assert not theirs.is_revoked("c" * 64)  # until its next reload
    assert theirs.refresh()
    assert theirs.is_revoked("c" * 64)
    assert not theirs.refresh()  # nothing new: no reload
    # A reload never forgets what this replica added meanwhile (rows are only ever added).
    mine.add("d" * 64)
    mine.refresh()
    assert mine.is_revoked("d" * 64) and len(mine) == 2

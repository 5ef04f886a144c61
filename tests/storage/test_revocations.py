"""The revoked-certificate list on both engines, and the in-memory view every replica checks calls
against: a revocation is kept once (its first time and reason), the version moves with each new
one, and a second store on the same database (another replica) sees it after a refresh."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization

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


def test_a_revocation_whose_caller_hangs_up_is_still_applied_and_audited(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    """Review 2026-12-02: the admin's call cancelled (deadline, hang-up) while the row was being
    written left the certificate revoked in the database with no audit record, ever: a second
    revocation finds it `already_revoked` and writes none."""
    from bhytgate.pki.devca import TerminalIdentity, issue_terminal_cert, load_ca, write_dev_pki
    from bhytgate.policy.model import TerminalKind
    from bhytgate.service.admin import AdminService
    from bhytgate.service.model import Caller
    from bhytgate.service.revocation import RevocationReason, fingerprint

    store = store_factory.open()
    assert isinstance(store, SqlStore)
    write_dev_pki(tmp_path / "pki")
    _key, cert = issue_terminal_cert(
        load_ca(tmp_path / "pki"),
        TerminalIdentity("lost-kiosk", "01001", "hospital-checkin", "kiosk"),  # type: ignore[arg-type]
    )
    actions: list[str] = []

    class Recorder:
        def record_action(self, caller: Caller, decision: str, action: str, **_: object) -> None:
            actions.append(decision)

    revoked = RevokedCertificates(store)
    service = AdminService(
        store,
        cast(Any, None),
        cast(Any, None),
        cast(Any, Recorder()),
        revoked,
        attestation_key=cast(Any, None),
        clock=lambda: T0,
        issuer="bhytgate-test",
    )
    insert = store.revoke_certificate

    def slow_insert(row: Revocation) -> tuple[Revocation, bool]:
        time.sleep(0.3)  # the admin's deadline passes meanwhile
        return insert(row)

    store.revoke_certificate = slow_insert  # type: ignore[method-assign]
    admin = Caller("admin-01", "01001", "admin", TerminalKind.DESK)
    pem = cert.public_bytes(serialization.Encoding.PEM)

    async def hang_up() -> None:
        call = asyncio.ensure_future(service.revoke_certificate(admin, pem, RevocationReason.DEVICE_LOST))
        await asyncio.sleep(0.1)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.sleep(1.0)

    asyncio.run(hang_up())
    digest = fingerprint(cert)
    assert revoked.is_revoked(digest)
    assert [a for a in actions if a.startswith("CERTIFICATE_REVOKED:lost-kiosk:")], actions

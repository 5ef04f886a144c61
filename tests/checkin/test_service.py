"""The accepted-path hook and the by-id lookup over a real SQLite store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bhytgate.checkin import CheckinConfig, CheckinDetails
from bhytgate.checkin.record import attestation_id
from bhytgate.checkin.service import Checkins
from bhytgate.policy.model import AssuranceLevel, Outcome, TerminalKind
from bhytgate.service.model import Caller, NotFound, Unavailable, VerifyInput, VerifyResult
from bhytgate.storage import SqliteStore, StoreUnavailable

from .test_record import ENT

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
DESK = Caller("desk-01", "01001", "hospital-checkin", TerminalKind.DESK)


def accepted(vid: str = "a" * 32, token: str | None = "h.p.s") -> VerifyResult:
    return VerifyResult(
        vid, Outcome.ACCEPTED, [], AssuranceLevel.CHIP_FACE, 0.4, 0.5, [], ENT, None, token, {}, T0
    )


@pytest.fixture
def service(tmp_path: Path) -> tuple[Checkins, SqliteStore, list[dt.datetime]]:
    store = SqliteStore(tmp_path / "g.db", template_key=bytes(32))
    now = [T0]
    return Checkins(store, b"k" * 32, CheckinConfig(), lambda: now[0]), store, now


def test_an_acceptance_is_stored_and_its_record_read_back_by_its_facility(service: Any) -> None:
    checkins, store, now = service
    inp = VerifyInput("c" * 32, [], checkin=CheckinDetails(ma_lk="LK1"))
    result = checkins.on_accepted(DESK, inp, accepted(), "001085012345")
    record = result.checkin
    assert record is not None and record.attestation_id == attestation_id("h.p.s")
    assert record.expires_at == T0 + dt.timedelta(days=7)
    rows = store.checkins_of([checkins.keys.cccd("001085012345")], [], T0, T0)
    assert [(r.verification_id, r.facility, r.assurance_level) for r in rows] == [
        ("a" * 32, "01001", "chip_face")
    ]
    assert rows[0].card_key == checkins.keys.card(ENT.card_number)
    assert rows[0].visit_key == checkins.keys.visit("01001", "LK1")
    assert checkins.record_for(DESK, "a" * 32) == record
    own_admin = Caller("admin-01", "01001", "admin", TerminalKind.DESK)
    assert checkins.record_for(own_admin, "a" * 32).xml == record.xml
    auditor = Caller("auditor-01", "00000", "auditor", TerminalKind.DESK)  # the fund: every facility
    assert checkins.record_for(auditor, "a" * 32).xml == record.xml
    for other in ("hospital-checkin", "admin"):  # another facility's terminal, or its admin
        with pytest.raises(NotFound):
            checkins.record_for(Caller("x-02", "79014", other, TerminalKind.DESK), "a" * 32)
    now[0] = T0 + dt.timedelta(days=8)
    with pytest.raises(NotFound):
        checkins.record_for(DESK, "a" * 32)
    checkins.purge()
    assert store.checkin_record("a" * 32, T0) is None  # erased, not only hidden
    assert len(store.checkins_of([checkins.keys.cccd("001085012345")], [], T0, T0)) == 1


def test_nothing_without_an_attestation_and_a_database_outage_is_unavailable(service: Any) -> None:
    checkins, store, _ = service
    inp = VerifyInput("c" * 32, [])
    assert checkins.on_accepted(DESK, inp, accepted(token=None), "001085012345").checkin is None

    def down(*_: object) -> None:
        raise StoreUnavailable("database unreachable")

    store.put_checkin = down
    with pytest.raises(Unavailable, match="check-in record was not stored"):
        checkins.on_accepted(DESK, inp, accepted("b" * 32), "001085012345")

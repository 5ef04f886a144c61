"""Classifying one dossier against verified check-ins (pure), and a whole file through the store."""

from __future__ import annotations

import datetime as dt
import decimal
import io
from pathlib import Path

import pytest

from benchmarks.claims_gen import VIETNAM, Visit, claims_bytes, file_hoso, write_claims
from bhytgate.checkin.keys import CheckinKeys
from bhytgate.claims.envelope import ClaimsScopeError
from bhytgate.claims.match import Keys, Status, classify
from bhytgate.claims.service import Reconciliation
from bhytgate.claims.xml1 import Xml1
from bhytgate.storage import SqliteStore
from bhytgate.storage.checkins import StoredCheckin

T = dt.datetime(2026, 11, 30, 8, 0, tzinfo=VIETNAM)
WINDOW = dt.timedelta(hours=4)
HORIZON = dt.timedelta(days=3)
KEYS = CheckinKeys(b"k" * 32)
CCCD, CARD = "001085012345", "DN4010123456789"


def visit(**kw: object) -> Xml1:
    values: dict[str, object] = dict(
        ma_lk="LK1",
        facility="01001",
        arrival=T,
        end=T + dt.timedelta(hours=1),
        cccd=CCCD,
        cards=(CARD,),
        amount=decimal.Decimal("100000"),
    )
    values.update(kw)
    return Xml1(**values)  # type: ignore[arg-type]


def keys_of(v: Xml1) -> Keys:
    return Keys(
        KEYS.cccd(v.cccd) if v.cccd else None,
        tuple(KEYS.card(c) for c in v.cards),
        KEYS.visit(v.facility, v.ma_lk),
    )


def checkin(
    vid: str, at: dt.datetime, facility: str = "01001", *, cccd: str = CCCD, card: str = CARD, ma_lk: str = ""
) -> StoredCheckin:
    return StoredCheckin(
        vid,
        "a" * 64,
        facility,
        "desk-01",
        at,
        "chip_face",
        KEYS.cccd(cccd),
        KEYS.card(card),
        KEYS.visit(facility, ma_lk) if ma_lk else None,
    )


def run(v: Xml1, rows: list[StoredCheckin]) -> tuple[Status, str, str]:
    out = classify(1, v, keys_of(v), rows, window=WINDOW, horizon=HORIZON)
    return out.status, out.verification_id, out.reason


def test_the_same_person_here_within_the_window_is_verified() -> None:
    assert run(visit(), [checkin("v1", T - dt.timedelta(minutes=20))])[:2] == (Status.VERIFIED, "v1")
    # by card alone (an old 9-digit CMND in SO_CCCD), and across a renewal to another group
    assert run(visit(cccd=None), [checkin("v1", T, cccd="999999999999")])[0] is Status.VERIFIED
    renewed = checkin("v1", T, cccd="999999999999", card="HT3010123456789")
    assert run(visit(cccd=None), [renewed])[0] is Status.VERIFIED


def test_the_visit_key_then_the_nearest_check_in_is_chosen() -> None:
    near, tagged = checkin("near", T), checkin("tagged", T + dt.timedelta(hours=2), ma_lk="LK1")
    assert run(visit(), [near, tagged])[1] == "tagged"
    assert run(visit(ma_lk="LK2"), [near, tagged])[1] == "near"


def test_nobody_verified_is_unverified() -> None:
    other = checkin("v1", T, cccd="111111111111", card="DN4010000000001")
    assert run(visit(), [])[0] is Status.UNVERIFIED
    assert run(visit(), [other])[0] is Status.UNVERIFIED
    assert run(visit(), [checkin("old", T - dt.timedelta(days=10))])[0] is Status.UNVERIFIED


def test_another_facility_or_another_day_is_a_mismatch() -> None:
    status, vid, reason = run(visit(), [checkin("v1", T + dt.timedelta(minutes=5), facility="79014")])
    assert (status, vid) == (Status.MISMATCH, "v1") and "facility 79014" in reason
    status, _, reason = run(visit(), [checkin("v1", T - dt.timedelta(days=1))])
    assert status is Status.MISMATCH and "24.0 h" in reason and "window 240 min" in reason
    assert run(visit(), [checkin("v1", T + WINDOW)])[0] is Status.VERIFIED
    assert run(visit(), [checkin("v1", T + WINDOW + dt.timedelta(minutes=1))])[0] is Status.MISMATCH


def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "g.db", template_key=bytes(32))


def test_a_file_reconciles_in_chunks_with_counts_and_amounts(tmp_path: Path) -> None:
    db = store(tmp_path)
    at = T.astimezone(dt.UTC)
    db.put_checkin(checkin("v" * 32, at), b"<x/>", at + dt.timedelta(days=7), at + dt.timedelta(days=400))
    seen = Visit("LK-A", CCCD, CARD, T + dt.timedelta(minutes=30), "01001", amount="150000")
    ghost = Visit("LK-B", "002090000001", "DN4010000000002", T, "01001", amount="880000.5")
    elsewhere = Visit("LK-C", CCCD, CARD, T + dt.timedelta(minutes=40), "79014", amount="30000")
    good = claims_bytes("01001", [seen, ghost, elsewhere])
    broken = good.replace(
        b"</DANHSACHHOSO>", b"<HOSO>" + file_hoso("XML1", b"%%", encode=False) + b"</HOSO></DANHSACHHOSO>"
    )
    job = Reconciliation(db, KEYS, window=WINDOW)
    out = []
    for i in range(0, len(broken), 100):
        out += job.feed(broken[i : i + 100])
    out += job.close()
    assert [(o.ma_lk, o.status) for o in out] == [
        ("LK-A", Status.VERIFIED),
        ("LK-B", Status.UNVERIFIED),
        ("LK-C", Status.MISMATCH),
        ("", Status.UNPARSEABLE),
    ]
    assert out[0].verification_id == "v" * 32 and out[0].assurance_level == "chip_face"
    summary = job.summary.as_dict()
    assert summary["facility"] == "01001" and summary["declared"] == 3 and summary["dossiers"] == 4
    assert summary["classes"] == {
        "verified": {"count": 1, "amount": "150000"},
        "unverified": {"count": 1, "amount": "880000.5"},
        "mismatch": {"count": 1, "amount": "30000"},
        "unparseable": {"count": 1, "amount": "0"},
        "duplicate": {"count": 0, "amount": "0"},
    }


def test_a_bounded_memory_run_over_many_dossiers(tmp_path: Path) -> None:
    """5,000 dossiers (17 MB) through the reader: the parser keeps no tree, so the peak traced
    allocation is a few chunks' worth, not the file's size (benchmarks/claims_bench.py: 100,000)."""
    import tracemalloc

    from benchmarks.claims_gen import hoso, random_visits

    buf = io.BytesIO()
    write_claims(buf, "01001", (hoso(v) for v in random_visits(5_000, "01001")), count=5_000)
    data = buf.getvalue()
    job = Reconciliation(store(tmp_path), KEYS, window=WINDOW)
    tracemalloc.start()
    count = 0
    view = memoryview(data)
    for i in range(0, len(data), 1 << 20):
        count += len(job.feed(bytes(view[i : i + (1 << 20)])))
    count += len(job.close())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 5_000 and job.summary.counts[Status.UNVERIFIED] == 5_000
    assert len(data) > 16_000_000 and peak < 8 * 1024 * 1024, (len(data), peak)


@pytest.mark.parametrize("when", [dt.timedelta(days=-4), dt.timedelta(days=4)])
def test_far_check_ins_are_not_fetched_as_candidates(tmp_path: Path, when: dt.timedelta) -> None:
    db = store(tmp_path)
    at = (T + when).astimezone(dt.UTC)
    db.put_checkin(checkin("v" * 32, at), b"<x/>", at + dt.timedelta(days=7), at + dt.timedelta(days=400))
    job = Reconciliation(db, KEYS, window=WINDOW)
    out = job.feed(claims_bytes("01001", [Visit("LK-A", CCCD, CARD, T, "01001")])) + job.close()
    assert [o.status for o in out] == [Status.UNVERIFIED]


def test_a_facility_scoped_reconciliation_sees_its_own_check_ins_and_files_only(tmp_path: Path) -> None:
    """An admin's reconciliation (scope = its facility): another facility's check-in of the same
    person is not shown (not even as a mismatch naming it), and another facility's file is refused."""
    db = store(tmp_path)
    at = T.astimezone(dt.UTC)
    db.put_checkin(
        checkin("w" * 32, at, facility="79014"),
        b"<x/>",
        at + dt.timedelta(days=7),
        at + dt.timedelta(days=400),
    )
    data = claims_bytes("01001", [Visit("LK-A", CCCD, CARD, T + dt.timedelta(minutes=30), "01001")])
    national = Reconciliation(db, KEYS, window=WINDOW)
    assert [(o.status, o.verification_id) for o in national.feed(data) + national.close()] == [
        (Status.MISMATCH, "w" * 32)
    ]
    scoped = Reconciliation(db, KEYS, window=WINDOW, facility="01001")
    assert [(o.status, o.verification_id, o.reason) for o in scoped.feed(data) + scoped.close()] == [
        (Status.UNVERIFIED, "", "")
    ]
    elsewhere = Reconciliation(db, KEYS, window=WINDOW, facility="79014")
    with pytest.raises(ClaimsScopeError, match=r"facility 01001's .* an admin of facility 79014"):
        elsewhere.feed(data)
    nameless = Reconciliation(db, KEYS, window=WINDOW, facility="01001")
    with pytest.raises(ClaimsScopeError, match="names no facility"):
        nameless.feed(data.replace(b"<MACSKCB>01001</MACSKCB>", b""))
        nameless.close()


def test_one_check_in_claimed_by_two_dossiers_makes_the_second_a_duplicate(tmp_path: Path) -> None:
    """Two dossiers of the same person and day and one check-in: the first (file order) is verified,
    the second is `duplicate`, naming the check-in and the dossier that has it. A second check-in
    that day verifies a second dossier: two visits, two check-ins, no duplicate."""
    db = store(tmp_path)
    at = T.astimezone(dt.UTC)
    db.put_checkin(checkin("v" * 32, at), b"<x/>", at + dt.timedelta(days=7), at + dt.timedelta(days=400))
    first = Visit("LK-1", CCCD, CARD, T + dt.timedelta(minutes=10), "01001", amount="150000")
    again = Visit("LK-2", CCCD, CARD, T + dt.timedelta(minutes=70), "01001", amount="90000")
    data = claims_bytes("01001", [first, again])
    job = Reconciliation(db, KEYS, window=WINDOW)
    out = []
    for i in range(0, len(data), 64):  # the two dossiers in different batches too
        out += job.feed(data[i : i + 64])
    out += job.close()
    assert [(o.ma_lk, o.status, o.verification_id) for o in out] == [
        ("LK-1", Status.VERIFIED, "v" * 32),
        ("LK-2", Status.DUPLICATE, "v" * 32),
    ]
    assert out[1].reason == "its check-in already verifies dossier 1 (MA_LK LK-1) of this file"
    classes = job.summary.as_dict()["classes"]
    assert classes["verified"] == {"count": 1, "amount": "150000"}  # type: ignore[index]
    assert classes["duplicate"] == {"count": 1, "amount": "90000"}  # type: ignore[index]

    later = at + dt.timedelta(hours=3)  # a second visit that day, checked in again
    db.put_checkin(
        checkin("w" * 32, later), b"<x/>", later + dt.timedelta(days=7), later + dt.timedelta(days=400)
    )
    second = Visit("LK-2", CCCD, CARD, T + dt.timedelta(hours=3, minutes=5), "01001", amount="90000")
    job = Reconciliation(db, KEYS, window=WINDOW)
    out = job.feed(claims_bytes("01001", [first, second])) + job.close()
    assert [(o.status, o.verification_id) for o in out] == [
        (Status.VERIFIED, "v" * 32),
        (Status.VERIFIED, "w" * 32),
    ]

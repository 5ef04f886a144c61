"""One check-in, one claim across files: a later file's dossier claiming a check-in an earlier
file's dossier has is `duplicate`; the same file (the same dossiers) reconciled again is not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from benchmarks.claims_gen import Visit, claims_bytes
from bhytgate.claims.envelope import ClaimsFileError
from bhytgate.claims.match import Holder, Outcome, Status, classify
from bhytgate.claims.service import Reconciliation
from bhytgate.storage import SqliteStore

from .test_match import CARD, CCCD, HORIZON, KEYS, WINDOW, T, checkin, keys_of, visit

AT = T.astimezone(dt.UTC)
VID = "v" * 32


def test_a_check_in_taken_by_another_file_makes_the_dossier_a_duplicate_naming_it() -> None:
    rows = [checkin(VID, T, ma_lk="LK1")]
    v = visit()
    out = classify(
        1, v, keys_of(v), rows, window=WINDOW, horizon=HORIZON, taken={VID: Holder("dossier 4 of X")}.get
    )
    assert (out.status, out.verification_id) == (Status.DUPLICATE, VID)
    # the MA_LK evidence is reported (the rule stays: whoever claimed it first keeps it)
    assert (
        out.reason
        == "its check-in already verifies dossier 4 of X; this dossier carries the check-in's MA_LK"
    )
    free = classify(1, v, keys_of(v), rows, window=WINDOW, horizon=HORIZON, taken={}.get)
    assert free.status is Status.VERIFIED
    # a second check-in that day, free: it verifies this dossier instead
    both = [*rows, checkin("w" * 32, T + dt.timedelta(hours=1))]
    other = classify(1, v, keys_of(v), both, window=WINDOW, horizon=HORIZON, taken={VID: Holder("x")}.get)
    assert (other.status, other.verification_id) == (Status.VERIFIED, "w" * 32)


@pytest.fixture
def db(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "g.db", template_key=bytes(32))
    store.put_checkin(checkin(VID, AT), b"<x/>", AT + dt.timedelta(days=7), AT + dt.timedelta(days=400))
    return store


def run(
    db: SqliteStore, data: bytes, facility: str | None = "01001", step: int = 0
) -> tuple[list[Outcome], Reconciliation]:
    job = Reconciliation(db, KEYS, window=WINDOW, facility=facility)
    out: list[Outcome] = []
    for i in range(0, len(data), step or len(data)):
        out += job.feed(data[i : i + (step or len(data))])
    return out + job.close(), job


def seen(ma_lk: str, minutes: int = 10, amount: str = "150000", facility: str = "01001") -> Visit:
    return Visit(ma_lk, CCCD, CARD, T + dt.timedelta(minutes=minutes), facility, amount=amount)


def test_file_b_claiming_file_a_s_check_in_is_flagged_and_file_a_again_is_not(db: SqliteStore) -> None:
    file_a = claims_bytes(
        "01001", [seen("LK-1"), Visit("LK-G", "002090000001", "DN4010000000002", T, "01001")]
    )
    out_a, job_a = run(db, file_a)
    assert [(o.status, o.verification_id) for o in out_a] == [(Status.VERIFIED, VID), (Status.UNVERIFIED, "")]
    claimed = db.claims_on([VID])[VID]
    assert claimed.file_sha256 == job_a.file_sha256 and claimed.dossier_index == 1
    assert "LK-1" not in repr(claimed) and CCCD not in repr(claimed)  # pseudonyms and references only

    file_b = claims_bytes("01001", [seen("LK-9", minutes=40, amount="90000")])
    out_b, job_b = run(db, file_b)
    assert [(o.status, o.verification_id) for o in out_b] == [(Status.DUPLICATE, VID)]
    assert out_b[0].reason == (
        f"its check-in already verifies dossier 1 of facility 01001's file sha256:{job_a.file_sha256[:16]}"
        f" (reconciled {claimed.claimed_at:%Y-%m-%d %H:%M} UTC)"
    )
    assert job_b.summary.as_dict()["classes"]["duplicate"] == {"count": 1, "amount": "90000"}  # type: ignore[index]

    # the very same file again (another run, other chunks): its dossier holds its own claim, and
    # says that it was reconciled before
    again, job_again = run(db, file_a, step=50)
    assert [(o.status, o.verification_id) for o in again] == [(o.status, o.verification_id) for o in out_a]
    assert again[0].reason.startswith(
        f"re-sent: this dossier already holds its check-in as dossier 1 of facility 01001's file"
        f" sha256:{job_a.file_sha256[:16]} "
    )
    assert job_again.file_sha256 == job_a.file_sha256
    assert db.claims_on([VID])[VID] == claimed  # still file A's first claim
    # and file B again is still the duplicate
    assert [o.status for o in run(db, file_b)[0]] == [Status.DUPLICATE]


def test_a_re_sent_dossier_keeps_its_claim_and_a_changed_one_with_the_same_ma_lk_does_not(
    db: SqliteStore,
) -> None:
    out, _ = run(db, claims_bytes("01001", [seen("LK-1")]))
    assert out[0].status is Status.VERIFIED
    # the same dossier, byte for byte, in another file (after another dossier): still its claim
    other = Visit("LK-G", "002090000001", "DN4010000000002", T, "01001")
    assert [o.status for o in run(db, claims_bytes("01001", [other, seen("LK-1")]))[0]] == [
        Status.UNVERIFIED,
        Status.VERIFIED,
    ]
    # the same MA_LK with another amount is another claim of the check-in: flagged, and said so
    changed, _ = run(db, claims_bytes("01001", [seen("LK-1", amount="990000")]))
    assert changed[0].status is Status.DUPLICATE
    assert changed[0].reason.startswith(
        "its check-in already verifies dossier 1 with the same MA_LK of facility 01001's"
    )


def test_within_a_file_the_first_dossier_still_keeps_it_and_a_re_run_says_the_same(db: SqliteStore) -> None:
    data = claims_bytes("01001", [seen("LK-1"), seen("LK-2", minutes=70), seen("LK-1")])
    first, _ = run(db, data, step=64)
    assert [o.status for o in first] == [Status.VERIFIED, Status.DUPLICATE, Status.DUPLICATE]
    assert first[1].reason == "its check-in already verifies dossier 1 (MA_LK LK-1) of this file"
    again, _ = run(db, data, step=700)
    assert [o.status for o in again] == [o.status for o in first]
    assert [o.reason for o in again[1:]] == [o.reason for o in first[1:]]
    assert again[0].reason.startswith("re-sent: this dossier already holds its check-in as dossier 1 ")


def test_another_facility_s_claim_is_not_named_to_a_facility_admin(db: SqliteStore) -> None:
    """The auditor reconciles facility 79014's file holding a dossier of a visit at 01001: that
    claims 01001's check-in. 01001's admin then sees only that another facility's file has it;
    the auditor sees which."""
    foreign = claims_bytes("79014", [seen("LK-X", facility="01001")])
    out, foreign_job = run(db, foreign, facility=None)
    assert out[0].status is Status.VERIFIED
    mine = claims_bytes("01001", [seen("LK-1")])
    scoped, _ = run(db, mine)
    assert (scoped[0].status, scoped[0].reason) == (
        Status.DUPLICATE,
        "its check-in already verifies a dossier of another facility's claims file",
    )
    national, _ = run(db, mine, facility=None)
    assert national[0].status is Status.DUPLICATE
    assert f"facility 79014's file sha256:{foreign_job.file_sha256[:16]}" in national[0].reason


def test_a_file_that_failed_midway_keeps_the_claims_of_the_dossiers_it_reported(db: SqliteStore) -> None:
    """A dossier reported `verified` has claimed its check-in, whether or not the rest of its file
    could be read; the file is then named as not finished. Sending that file again, fixed, keeps
    the claim (the same dossier); another file's dossier is a duplicate of it."""
    good = claims_bytes("01001", [seen("LK-1"), seen("LK-2", minutes=500)])
    broken = good[: good.index(b"</DANHSACHHOSO>") - 10]
    job = Reconciliation(db, KEYS, window=WINDOW, facility="01001")
    assert [o.status for o in job.feed(broken)] == [Status.VERIFIED]
    with pytest.raises(ClaimsFileError):
        job.close()
    other, _ = run(db, claims_bytes("01001", [seen("LK-9")]))
    assert (
        other[0].status is Status.DUPLICATE
        and "a file whose reconciliation had not finished" in other[0].reason
    )
    fixed, _ = run(db, good)
    assert fixed[0].status is Status.VERIFIED


def test_a_second_check_in_that_day_verifies_the_later_file_s_second_visit(db: SqliteStore) -> None:
    """Two visits, two check-ins, two files: the second file's dossier takes the free check-in,
    not a duplicate of the one the first file has (the claims are looked up before choosing)."""
    later = AT + dt.timedelta(hours=3)
    db.put_checkin(
        checkin("w" * 32, later), b"<x/>", later + dt.timedelta(days=7), later + dt.timedelta(days=400)
    )
    assert [(o.status, o.verification_id) for o in run(db, claims_bytes("01001", [seen("LK-1")]))[0]] == [
        (Status.VERIFIED, VID)
    ]
    out, _ = run(
        db, claims_bytes("01001", [seen("LK-2", minutes=80)])
    )  # nearer VID (80 min) than w (100 min)
    assert [(o.status, o.verification_id) for o in out] == [(Status.VERIFIED, "w" * 32)]


def _second_checkin(db: SqliteStore, minutes: int) -> str:
    """The same person checked in again that day, `minutes` after VID."""
    later = AT + dt.timedelta(minutes=minutes)
    db.put_checkin(
        checkin("w" * 32, later), b"<x/>", later + dt.timedelta(days=7), later + dt.timedelta(days=400)
    )
    return "w" * 32


def test_one_visit_claims_one_check_in_even_when_the_person_checked_in_twice_that_day(
    db: SqliteStore,
) -> None:
    """A second check-in that day is for a second visit (another MA_LK), not for the same visit
    claimed again: the same dossier twice in a file, the same dossier twice in a later file, and a
    changed dossier of the same MA_LK are each `duplicate`, leaving the free check-in untaken."""
    w = _second_checkin(db, 180)
    twice = claims_bytes("01001", [seen("LK-1"), seen("LK-1")])
    out, _ = run(db, twice)
    assert [(o.status, o.verification_id) for o in out] == [(Status.VERIFIED, VID), (Status.DUPLICATE, VID)]
    assert out[1].reason.startswith("its check-in already verifies dossier 1 (MA_LK LK-1) of this file")
    assert db.claims_on([w]) == {}
    # the same file again: the first copy keeps its claim, the second is still the duplicate
    assert [(o.status, o.verification_id) for o in run(db, twice, step=90)[0]] == [
        (Status.VERIFIED, VID),
        (Status.DUPLICATE, VID),
    ]
    # a later file with a changed dossier of the same visit: a duplicate, not the free check-in
    changed, _ = run(db, claims_bytes("01001", [seen("LK-1", amount="990000")]))
    assert [(o.status, o.verification_id) for o in changed] == [(Status.DUPLICATE, VID)]
    assert "dossier 1 with the same MA_LK of facility 01001's" in changed[0].reason
    assert db.claims_on([w]) == {}
    # a second visit that day (another MA_LK) still takes the free check-in
    visit_2, _ = run(db, claims_bytes("01001", [seen("LK-2", minutes=170)]))
    assert [(o.status, o.verification_id) for o in visit_2] == [(Status.VERIFIED, w)]


def test_a_re_sent_dossier_keeps_the_check_in_it_holds_when_a_nearer_one_appears(db: SqliteStore) -> None:
    """Re-sending is idempotent even when the person checked in again after the first run, nearer
    to NGAY_VAO: the dossier keeps the check-in it holds instead of claiming a second one."""
    data = claims_bytes("01001", [seen("LK-1", minutes=100)])
    assert [(o.status, o.verification_id) for o in run(db, data)[0]] == [(Status.VERIFIED, VID)]
    w = _second_checkin(db, 95)
    assert [(o.status, o.verification_id) for o in run(db, data)[0]] == [(Status.VERIFIED, VID)]
    assert db.claims_on([w]) == {}
    # the free one is there for the person's second visit
    assert [(o.status, o.verification_id) for o in run(db, claims_bytes("01001", [seen("LK-2", 90)]))[0]] == [
        (Status.VERIFIED, w)
    ]


def test_the_same_visit_with_ngay_vao_moved_next_to_the_second_check_in_is_still_a_duplicate(
    db: SqliteStore,
) -> None:
    """File A's LK-1 holds VID; file B's LK-1 with NGAY_VAO moved 5 h later, next to the person's
    second check-in (VID now outside the window): still the same visit, `duplicate` of file A's."""
    w = _second_checkin(db, 300)
    run(db, claims_bytes("01001", [seen("LK-1")]))
    moved, _ = run(db, claims_bytes("01001", [seen("LK-1", minutes=310)]))
    assert [(o.status, o.verification_id) for o in moved] == [(Status.DUPLICATE, VID)]
    assert "dossier 1 with the same MA_LK of facility 01001's" in moved[0].reason
    assert db.claims_on([w]) == {}


def test_a_re_sent_dossier_reconciled_with_a_narrower_window_claims_no_other_check_in(
    db: SqliteStore,
) -> None:
    """Its check-in is outside the narrower window: a mismatch naming it, not a second claim."""
    data = claims_bytes("01001", [seen("LK-1", minutes=180)])
    assert [(o.status, o.verification_id) for o in run(db, data)[0]] == [(Status.VERIFIED, VID)]
    w = _second_checkin(db, 200)  # checked in again after the first run
    job = Reconciliation(db, KEYS, window=dt.timedelta(minutes=60), facility="01001")
    out = job.feed(data) + job.close()
    assert [(o.status, o.verification_id) for o in out] == [(Status.MISMATCH, VID)]
    assert db.claims_on([w]) == {}


def test_a_dossier_re_sent_in_another_file_stays_verified_but_says_which_file_has_it(db: SqliteStore) -> None:
    """A hospital sending last month's dossier again in this month's file (any file name) gets it
    `verified` again (one check-in, one claim still holds), so the result must say it is a
    re-send: the reason names the file that first claimed it, or the visit could be paid twice."""
    first, job_a = run(db, claims_bytes("01001", [seen("LK-1")]))
    assert (first[0].status, first[0].reason) == (Status.VERIFIED, "")
    claimed = db.claims_on([VID])[VID]
    other = Visit("LK-G", "002090000001", "DN4010000000002", T, "01001")
    later, _ = run(db, claims_bytes("01001", [other, seen("LK-1")]))
    assert (later[1].status, later[1].verification_id) == (Status.VERIFIED, VID)
    assert later[1].reason == (
        f"re-sent: this dossier already holds its check-in as dossier 1 of facility 01001's file"
        f" sha256:{job_a.file_sha256[:16]} (reconciled {claimed.claimed_at:%Y-%m-%d %H:%M} UTC)"
    )

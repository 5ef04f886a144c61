"""One contract, two backends: every test here runs on SQLite and on PostgreSQL (marker `postgres`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest

from bhytgate.audit import AuditEvent, append_event, verify_chain
from bhytgate.entitlement.model import Entitlement
from bhytgate.storage import (
    AuditConflictError,
    ChallengeProblem,
    ChallengeRecord,
    Store,
    TemplateIntegrityError,
    VerificationEvent,
)
from bhytgate.storage.schema import MIGRATIONS as SQLITE_MIGRATIONS

from .conftest import StoreFactory

T0 = dt.datetime(2025, 3, 3, 7, 30, tzinfo=dt.UTC)
HMAC_KEY = b"k" * 32


def ent(card: str = "DN4010123456789", cccd: str | None = "001090000001", **kw: Any) -> Entitlement:
    base = Entitlement(
        card_number=card,
        social_insurance_number=card[5:],
        cccd_number=cccd,
        full_name="Nguyễn Văn A",
        date_of_birth="01/02/1990",
        sex="Nam",
        address="Hà Nội",
        beneficiary_group=card[:2],
        benefit_code=int(card[2]),
        province_code=card[3:5],
        registered_facility="01001",
        registered_facility_name="BV Bạch Mai",
        issuing_office="BHXH Hà Nội",
        valid_from=dt.date(2025, 1, 1),
        valid_to=dt.date(2025, 12, 31),
        five_year_date=dt.date(2020, 1, 1),
    )
    return dataclasses.replace(base, **kw)


def raw_exec(factory: StoreFactory, store: Store, query: str, params: tuple[Any, ...] = ()) -> None:
    """Tamper with the database behind the store's back (written with `?`, converted for psycopg)."""
    if factory.kind == "sqlite":
        conn = sqlite3.connect(store._path)  # type: ignore[attr-defined]
        try:
            conn.execute(query, params)
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg
        from psycopg import sql

        with psycopg.connect(store._conninfo, autocommit=True) as pg:  # type: ignore[attr-defined]
            pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(factory.schema)))
            pg.execute(query.replace("?", "%s").encode(), params)


# -- schema ----------------------------------------------------------------------------------------


def test_migrations_applied_and_idempotent(store_factory: StoreFactory) -> None:
    first = store_factory.open()
    latest = max(v for v, _ in SQLITE_MIGRATIONS)
    assert first.schema_version() == latest
    first.upsert_entitlements([ent()])
    first.close()
    again = store_factory.open()  # re-open: nothing re-applied, data kept
    assert again.schema_version() == latest
    assert again.entitlement_by_card("DN4010123456789") == ent()


# -- entitlements ----------------------------------------------------------------------------------


def test_entitlement_roundtrip_and_lookups(store: Store) -> None:
    a = ent()
    renewed = ent(card="DN4010123456789".replace("DN4", "HT3"), valid_from=dt.date(2026, 1, 1))
    other = ent(card="TE1790987654321", cccd=None, valid_to=None, copay_exempt_from=dt.date(2025, 6, 1))
    assert store.upsert_entitlements([a, renewed, other]) == 3
    assert store.entitlement_by_card(a.card_number) == a
    assert store.entitlement_by_card(other.card_number) == other
    assert store.entitlement_by_card("XX1010000000000") is None
    # newest validity first
    assert store.entitlements_by_bhxh("0123456789") == [renewed, a]
    assert store.entitlements_by_cccd("001090000001") == [renewed, a]
    assert store.entitlements_by_cccd("999999999999") == []


def test_upsert_replaces(store: Store) -> None:
    store.upsert_entitlements([ent()])
    store.upsert_entitlements([ent(revoked=True, valid_to=dt.date(2025, 6, 30))])
    got = store.entitlement_by_card("DN4010123456789")
    assert got is not None and got.revoked and got.valid_to == dt.date(2025, 6, 30)


def test_import_is_all_or_nothing(store: Store) -> None:
    good = [ent(card=f"DN4010{i:09d}", cccd=None) for i in range(1, 6)]
    bad = ent(card="DN4010000000099", social_insurance_number="0000000098")  # key disagrees with card
    with pytest.raises(ValueError):
        store.upsert_entitlements([*good, bad])
    assert all(store.entitlement_by_card(e.card_number) is None for e in good)
    assert store.upsert_entitlements(good) == 5


def test_link_cccd_makes_cards_findable(store: Store) -> None:
    store.upsert_entitlements([ent(cccd=None)])
    assert store.entitlements_by_cccd("079200000042") == []
    store.link_cccd("079200000042", "0123456789", "desk-01", T0)
    link = store.linked_bhxh("079200000042")
    assert link is not None
    assert (link.bhxh_number, link.by_terminal, link.linked_at) == ("0123456789", "desk-01", T0)
    assert [e.card_number for e in store.entitlements_by_cccd("079200000042")] == ["DN4010123456789"]
    assert store.linked_bhxh("079200000043") is None
    with pytest.raises(ValueError):
        store.link_cccd("7920000004", "0123456789", "desk-01", T0)


# -- face templates --------------------------------------------------------------------------------


def test_cards_of_people_by_cccd_and_social_insurance_number(store: Store) -> None:
    a = ent("DN4010123456789", "001090000001")
    b = ent("HT2790987654321", None)
    c = ent("GD4010111111111", "001090000009")
    store.upsert_entitlements([a, b, c])
    got = store.cards_of_people(["001090000001", "001090000001"], ["0987654321", "0000000000"])
    assert [(via, e.card_number) for via, e in got] == [
        ("001090000001", a.card_number),
        (None, b.card_number),
    ]
    many = [f"0010900{n:05d}" for n in range(1200)]  # more numbers than one query takes
    assert [e.card_number for _, e in store.cards_of_people(many, [])] == [a.card_number, c.card_number]
    assert store.cards_of_people([], []) == []
    # a CCCD's linked social-insurance number's cards are held under that CCCD (as check-in finds them)
    legacy = ent("HC4310555555555", None)
    store.upsert_entitlements([legacy])
    store.link_cccd("001090000077", legacy.social_insurance_number, "counter-1", T0)
    assert [(via, e.card_number) for via, e in store.cards_of_people(["001090000077"], [])] == [
        ("001090000077", legacy.card_number)
    ]


def test_face_template_roundtrip(store: Store) -> None:
    tpl = bytes(range(256)) * 2
    store.put_face_template("001090000001", tpl, "dlib_resnet", "1.0", T0)
    got = store.get_face_template("001090000001")
    assert got is not None
    assert (got.template, got.model_name, got.model_version, got.enrolled_at) == (
        tpl,
        "dlib_resnet",
        "1.0",
        T0,
    )
    assert store.get_face_template("001090000002") is None


def test_a_template_is_not_written_over_one_enrolled_since(store: Store) -> None:
    """One verification enrols once: the write names the verification's time, and a template
    enrolled at or after it stays (two enrolments of one verification racing, or a stale one)."""
    cccd, verified = "001090000003", T0
    assert store.put_face_template(
        cccd, b"a" * 64, "m", "1", T0 + dt.timedelta(seconds=5), unless_enrolled_since=verified
    )
    later = T0 + dt.timedelta(seconds=9)
    assert not store.put_face_template(cccd, b"b" * 64, "m", "1", later, unless_enrolled_since=verified)
    kept = store.get_face_template(cccd)
    assert kept is not None and kept.template == b"a" * 64
    # a newer verification replaces it
    newer = T0 + dt.timedelta(minutes=10)
    assert store.put_face_template(cccd, b"c" * 64, "m", "1", newer, unless_enrolled_since=newer)
    got = store.get_face_template(cccd)
    assert got is not None and (got.template, got.enrolled_at) == (b"c" * 64, newer)


def test_a_consent_is_attached_to_the_template_written_at_its_time(store: Store) -> None:
    cccd, at = "001090000004", T0 + dt.timedelta(seconds=5)
    assert store.put_face_template(cccd, b"a" * 64, "m", "1", at, unless_enrolled_since=T0)
    info = store.template_info(cccd)  # type: ignore[attr-defined]
    assert info is not None and info.consent_id is None  # none yet: retention would delete it
    consent = store.record_consent(  # type: ignore[attr-defined]
        "subject", "face_match", ["face_template"], "2026-01", at, at + dt.timedelta(days=365), "counter-1"
    )
    store.attach_template_consent(cccd, at + dt.timedelta(seconds=1), consent)  # another template's time
    assert store.template_info(cccd).consent_id is None  # type: ignore[attr-defined]
    store.attach_template_consent(cccd, at, consent)
    assert store.template_info(cccd).consent_id == consent  # type: ignore[attr-defined]


def test_face_template_encrypted_at_rest(store_factory: StoreFactory) -> None:
    if store_factory.kind != "sqlite":
        pytest.skip("raw-file inspection only for SQLite")
    store = store_factory.open()
    tpl = b"TEMPLATE-PLAINTEXT-MARKER" * 8
    store.put_face_template("001090000001", tpl, "m", "1", T0)
    store.close()
    conn = sqlite3.connect(store._path)  # type: ignore[attr-defined]
    (ct,) = conn.execute("SELECT ciphertext FROM face_templates").fetchone()
    conn.close()
    assert b"TEMPLATE-PLAINTEXT-MARKER" not in ct


def test_face_template_wrong_key_fails(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    store.put_face_template("001090000001", b"x" * 64, "m", "1", T0)
    other = store_factory.open(template_key=b"\x01" * 32)
    with pytest.raises(TemplateIntegrityError):
        other.get_face_template("001090000001")


def test_face_template_swapped_between_people_fails(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    store.put_face_template("001090000001", b"alice" * 20, "m", "1", T0)
    store.put_face_template("001090000002", b"mallory" * 20, "m", "1", T0)
    # copy Mallory's encrypted template onto Alice's row
    raw_exec(
        store_factory,
        store,
        """UPDATE face_templates SET nonce = (SELECT nonce FROM face_templates WHERE cccd_number = ?),
           ciphertext = (SELECT ciphertext FROM face_templates WHERE cccd_number = ?) WHERE
             cccd_number = ?""",
        ("001090000002", "001090000002", "001090000001"),
    )
    with pytest.raises(TemplateIntegrityError):
        store.get_face_template("001090000001")
    # relabelling the model (to dodge model-change detection) also breaks authentication
    raw_exec(
        store_factory,
        store,
        "UPDATE face_templates SET model_version = ? WHERE cccd_number = ?",
        ("2", "001090000002"),
    )
    with pytest.raises(TemplateIntegrityError):
        store.get_face_template("001090000002")


# -- challenges ------------------------------------------------------------------------------------


def challenge(cid: str = "c1", terminal: str = "kiosk-7", ttl: int = 60) -> ChallengeRecord:
    return ChallengeRecord(
        challenge_id=cid,
        terminal_id=terminal,
        nonce=b"\x01" * 16,
        aa_challenge=b"\x02" * 32,
        actions=("turn_left", "blink"),
        issued_at=T0,
        expires_at=T0 + dt.timedelta(seconds=ttl),
        facility="01001",
    )


def test_challenge_consumed_exactly_once(store: Store) -> None:
    store.issue_challenge(challenge())
    got = store.consume_challenge("c1", "kiosk-7", T0 + dt.timedelta(seconds=5), facility="01001")
    assert isinstance(got, ChallengeRecord)
    assert got.actions == ("turn_left", "blink") and got.aa_challenge == b"\x02" * 32
    assert got.consumed_at == T0 + dt.timedelta(seconds=5)
    assert (
        store.consume_challenge("c1", "kiosk-7", T0 + dt.timedelta(seconds=6), facility="01001")
        is ChallengeProblem.REPLAYED
    )


def test_challenge_problems(store: Store) -> None:
    store.issue_challenge(challenge("c1"))
    store.issue_challenge(challenge("c2"))
    assert store.consume_challenge("nope", "kiosk-7", T0, facility="01001") is ChallengeProblem.UNKNOWN
    assert (
        store.consume_challenge("c1", "kiosk-7", T0 + dt.timedelta(seconds=60), facility="01001")
        is ChallengeProblem.EXPIRED
    )
    # another terminal cannot use it, nor burn it for its owner
    assert store.consume_challenge("c2", "desk-1", T0, facility="01001") is ChallengeProblem.TERMINAL_MISMATCH
    # nor can a terminal of the same id at another facility (ids repeat across facilities)
    assert (
        store.consume_challenge("c2", "kiosk-7", T0, facility="79014") is ChallengeProblem.TERMINAL_MISMATCH
    )
    assert isinstance(store.consume_challenge("c2", "kiosk-7", T0, facility="01001"), ChallengeRecord)
    assert store.consume_challenge("c2", "desk-1", T0, facility="01001") is ChallengeProblem.TERMINAL_MISMATCH


def test_challenge_race_has_one_winner(store: Store) -> None:
    n = 8
    store.issue_challenge(challenge())
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def consume() -> None:
        barrier.wait()
        r = store.consume_challenge("c1", "kiosk-7", T0 + dt.timedelta(seconds=1), facility="01001")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=consume) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == n
    assert sum(isinstance(r, ChallengeRecord) for r in results) == 1
    assert sum(r is ChallengeProblem.REPLAYED for r in results) == n - 1


def test_purge_challenges(store: Store) -> None:
    store.issue_challenge(challenge("old", ttl=10))
    store.issue_challenge(challenge("new", ttl=3600))
    assert store.purge_challenges(T0 + dt.timedelta(minutes=5)) == 1
    assert store.consume_challenge("old", "kiosk-7", T0, facility="01001") is ChallengeProblem.UNKNOWN


# -- lost / stolen ---------------------------------------------------------------------------------


def test_lost_reports(store: Store) -> None:
    assert not store.is_reported_lost("doc-a")
    store.report_lost("doc-a", "stolen", "counter-3", T0)
    store.report_lost("doc-a", "lost", "counter-4", T0 + dt.timedelta(hours=1))  # first report stands
    assert store.is_reported_lost("doc-a")
    rep = store.lost_report("doc-a")
    assert rep is not None and (rep.reason, rep.reporter, rep.reported_at) == ("stolen", "counter-3", T0)
    assert store.lost_report("doc-b") is None
    # a death replaces a lost/stolen report (it blocks every card), and then stands
    died = T0 + dt.timedelta(days=2)
    store.report_lost("doc-a", "deceased", "office-1", died)
    store.report_lost("doc-a", "deceased", "office-2", died + dt.timedelta(days=1))
    store.report_lost("doc-a", "lost", "counter-5", died + dt.timedelta(days=2))
    rep = store.lost_report("doc-a")
    assert rep is not None and (rep.reason, rep.reporter, rep.reported_at) == ("deceased", "office-1", died)


# -- fraud events ----------------------------------------------------------------------------------


def event(
    doc: str, facility: str, at: dt.datetime, decision: str = "ACCEPTED", **kw: Any
) -> VerificationEvent:
    return VerificationEvent(doc, facility, kw.pop("terminal", "t1"), decision, kw.pop("mismatch", False), at)


def test_facilities_within_window(store: Store) -> None:
    store.record_verification(event("doc", "01001", T0 - dt.timedelta(hours=8)))
    store.record_verification(event("doc", "01002", T0 - dt.timedelta(hours=2)))
    store.record_verification(event("doc", "01003", T0 - dt.timedelta(hours=1)))
    store.record_verification(event("doc", "01003", T0))
    store.record_verification(event("other", "79014", T0))
    assert store.facilities_since("doc", T0 - dt.timedelta(hours=6)) == {"01002", "01003"}
    assert store.facilities_since("nobody", T0 - dt.timedelta(hours=6)) == frozenset()


def test_face_mismatch_count(store: Store) -> None:
    store.record_verification(event("doc", "01001", T0 - dt.timedelta(hours=30), "REJECTED", mismatch=True))
    for h in (5, 3, 1):
        store.record_verification(
            event("doc", "01001", T0 - dt.timedelta(hours=h), "REJECTED", mismatch=True)
        )
    store.record_verification(event("doc", "01001", T0, "ACCEPTED"))
    assert store.face_mismatches_since("doc", T0 - dt.timedelta(hours=24)) == 3


def test_terminal_recent_decisions(store: Store) -> None:
    for i in range(10):
        store.record_verification(
            event(f"d{i}", "01001", T0 + dt.timedelta(seconds=i), "ACCEPTED", terminal="t9")
        )
    for i in range(4):
        store.record_verification(
            event(f"r{i}", "01001", T0 + dt.timedelta(minutes=1, seconds=i), "REJECTED", terminal="t9")
        )
    store.record_verification(event("x", "01001", T0, "REJECTED", terminal="t8"))
    # the same terminal id at another facility is another terminal
    for i in range(5):
        store.record_verification(
            event(f"o{i}", "79014", T0 + dt.timedelta(minutes=2), "REJECTED", terminal="t9")
        )
    assert store.terminal_recent_decisions("01001", "t9", 6) == {"REJECTED": 4, "ACCEPTED": 2}
    assert store.terminal_recent_decisions("01001", "t9", 100) == {"REJECTED": 4, "ACCEPTED": 10}
    assert store.terminal_recent_decisions("79014", "t9", 100) == {"REJECTED": 5}
    assert store.terminal_recent_decisions("01001", "t0", 10) == {}


def test_the_rejection_rate_query_has_an_index_of_its_own(store: Store) -> None:
    """Migration 12: a terminal's last decisions are read by (terminal_id, facility, id); with
    (terminal_id, id) alone every facility's rows of a shared id (`desk-01`) were read and filtered."""
    query = (
        "SELECT decision FROM verification_events WHERE terminal_id = ? AND facility = ?"
        " ORDER BY id DESC LIMIT 10"
    )
    with store._read() as c:  # type: ignore[attr-defined]
        if store._d.name == "sqlite":  # type: ignore[attr-defined]
            plan = " ".join(r["detail"] for r in c.all("EXPLAIN QUERY PLAN " + query, ("t9", "01001")))
            assert "USING INDEX ix_events_terminal_facility (terminal_id=? AND facility=?)" in plan
            names = {r["name"] for r in c.all("PRAGMA index_list('verification_events')")}
        else:
            rows = c.all("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'verification_events'")
            names = {r["indexname"] for r in rows}
            definition = next(r["indexdef"] for r in rows if r["indexname"] == "ix_events_terminal_facility")
            assert definition.endswith("(terminal_id, facility, id)")
    assert "ix_events_terminal_facility" in names and "ix_events_terminal" not in names


# -- biometric locks -------------------------------------------------------------------------------


def test_biometric_lock_extends_only(store: Store) -> None:
    store.lock_biometrics("doc", T0 + dt.timedelta(hours=24))
    store.lock_biometrics("doc", T0 + dt.timedelta(hours=1))  # must not shorten
    assert store.biometric_lock_until("doc", T0) == T0 + dt.timedelta(hours=24)
    assert store.biometric_lock_until("doc", T0 + dt.timedelta(hours=25)) is None
    assert store.biometric_lock_until("other", T0) is None


# -- audit -----------------------------------------------------------------------------------------


def audit_event(i: int) -> AuditEvent:
    return AuditEvent(
        verification_id=f"v{i}",
        at=T0 + dt.timedelta(seconds=i),
        decision="ACCEPTED",
        facility="01001",
        terminal_id="t1",
        document_number="001090000001",
    )


def test_audit_append_and_verify(store: Store) -> None:
    assert store.audit_head() == (0, "00" * 32)
    entries = [append_event(store, audit_event(i), HMAC_KEY) for i in range(1203)]  # crosses a page
    stored = list(store.iter_audit())
    assert stored == entries
    assert store.audit_head() == (1203, entries[-1].hash)
    assert verify_chain(stored, expected_head=entries[-1].hash).ok
    assert [e.seq for e in store.iter_audit(from_seq=1200)] == [1200, 1201, 1202]


def test_audit_concurrent_appends_do_not_fork(store: Store) -> None:
    n_threads, per_thread = 4, 15
    barrier = threading.Barrier(n_threads)

    def work(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            append_event(store, audit_event(k * 100 + i), HMAC_KEY)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    report = verify_chain(store.iter_audit())
    assert report.ok and report.checked == n_threads * per_thread


def test_audit_stale_builder_refused(store: Store) -> None:
    append_event(store, audit_event(0), HMAC_KEY)
    first = next(iter(store.iter_audit()))
    build: Callable[[int, str], Any] = lambda seq, prev: first  # noqa: E731  # replays record 0
    with pytest.raises(AuditConflictError):
        store.append_audit(build)
    assert store.audit_head()[0] == 1


def test_audit_log_is_append_only_in_db(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    append_event(store, audit_event(0), HMAC_KEY)
    with pytest.raises(Exception, match="append-only"):
        raw_exec(store_factory, store, "UPDATE audit_log SET body = ? WHERE seq = 0", ("{}",))
    with pytest.raises(Exception, match="append-only"):
        raw_exec(store_factory, store, "DELETE FROM audit_log WHERE seq = 0")
    assert store.audit_head()[0] == 1


# -- frame hashes ----------------------------------------------------------------------------------


def test_frame_hashes_detect_replay(store: Store) -> None:
    a, b, c = (bytes([i]) * 32 for i in range(3))
    assert store.add_frame_hashes([a, b], T0) == frozenset()
    assert store.frame_hash_seen(a) and not store.frame_hash_seen(c)
    assert store.add_frame_hashes([b, c], T0 + dt.timedelta(minutes=1)) == {b}
    assert store.add_frame_hashes([c, c], T0 + dt.timedelta(minutes=2)) == {c}


def test_frame_hashes_are_bounded_by_ttl(store: Store) -> None:
    a, b = b"\xaa" * 32, b"\xbb" * 32
    store.add_frame_hashes([a], T0)
    # 25 h later (default TTL 24 h) the old digest is gone, so the table stays bounded
    assert store.add_frame_hashes([b], T0 + dt.timedelta(hours=25)) == frozenset()
    assert not store.frame_hash_seen(a)
    assert store.prune_frame_hashes(T0 + dt.timedelta(hours=26)) == 1


def test_naive_timestamps_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.report_lost("doc", "lost", "c1", dt.datetime(2025, 1, 1))

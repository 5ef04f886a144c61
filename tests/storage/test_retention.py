"""Retention on both engines: the housekeeper deletes what is past its period (each kind its own)
and nothing else, audits what it deleted, and the audit chain verifies across the deletions."""

from __future__ import annotations

import datetime as dt
import json

from bhytgate.audit.chain import AuditEvent, builder, document_key, verify_chain
from bhytgate.privacy.policy import RetentionPolicy
from bhytgate.service.housekeeper import Housekeeper
from bhytgate.storage.sql import SqlStore

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
KEY = b"k" * 32
POLICY = RetentionPolicy(
    frame_fingerprints=2 * DAY,
    frame_hashes=3 * DAY,
    sessions=dt.timedelta(hours=1),
    review_cases=30 * DAY,
    face_templates=365 * DAY,
)
BODY_KEYS = {
    "v", "seq", "action", "verification_id", "at", "decision", "reasons", "facility", "terminal",
    "assurance_level", "document", "operator", "face_distance", "face_threshold", "counts",
}  # fmt: skip


def _ts(store: SqlStore, value: dt.datetime) -> object:
    return store._d.ts(value)


def populate(store: SqlStore) -> dict[str, str]:
    # an audit trail first: decisions about the holders whose templates will go
    for i, cccd in enumerate(["079000000001", "079000000002", "079000000003"]):
        event = AuditEvent(f"v{i}", NOW - 400 * DAY, "ACCEPTED", "01001", "desk-01", document_number=cccd)
        store.append_audit(builder(event, KEY), record_id=f"v{i}")
    store.add_fingerprints([(b"a" * 32, b"p" * 32)], NOW - 3 * DAY)  # past 2 days: goes
    store.add_fingerprints([(b"b" * 32, b"q" * 32)], NOW - DAY)  # stays
    # (each insert also drops entries past the store's own replay TTL: the older one goes in last)
    store.add_frame_hashes([b"y" * 32], NOW - 2 * DAY)  # stays
    store.add_frame_hashes([b"x" * 32], NOW - 4 * DAY)  # past 3 days: goes
    store.put_session("s-old", "counter-01", NOW - dt.timedelta(hours=2), b"{}")
    store.put_session("s-new", "counter-01", NOW - dt.timedelta(minutes=10), b"{}")
    future = NOW + 900 * DAY
    active = store.record_consent("k1", "p", ["face_template"], "2026-01", NOW - 10 * DAY, future, "c")
    withdrawn = store.record_consent("k2", "p", ["face_template"], "2026-01", NOW - 10 * DAY, future, "c")
    expired = store.record_consent("k3", "p", ["face_template"], "2026-01", NOW - 10 * DAY, NOW - DAY, "c")
    old = store.record_consent("k4", "p", ["face_template"], "2026-01", NOW - 400 * DAY, future, "c")
    store.withdraw_consents("k2", "000000000000", NOW - DAY)  # no template of that number
    templates = {
        "079000000009": (NOW - 10 * DAY, active),  # kept
        "079000000001": (NOW - 10 * DAY, withdrawn),  # consent withdrawn: goes
        "079000000002": (NOW - 10 * DAY, expired),  # consent expired: goes
        "079000000003": (NOW - 400 * DAY, old),  # past 365 days: goes
        "079000000004": (NOW - 10 * DAY, None),  # no consent recorded: goes
    }
    for cccd, (at, consent) in templates.items():
        store.put_face_template(cccd, b"template-" + cccd.encode(), "m", "1", at, consent_id=consent)
    return {c: "kept" if c == "079000000009" else "deleted" for c in templates}


def test_retention_deletes_what_it_should_and_nothing_else(store: SqlStore) -> None:
    expected = populate(store)
    # review cases: closed (resolved or expired) ones age out from their closing; open ones stay
    with store._tx() as c:
        for i, (state, closed) in enumerate(
            [("ACCEPTED", NOW - 40 * DAY), ("EXPIRED", NOW - 5 * DAY), ("OPEN", None)]
        ):
            c.execute(
                """INSERT INTO review_cases (verification_id, facility, province, terminal_id,
                     terminal_kind, state, opened_at, expires_at, resolved_at, summary, nonce, sealed)
                   VALUES (?, '01001', '01', 'desk-01', 'desk', ?, ?, ?, ?, '{}', ?, ?)""",
                (
                    f"case{i}",
                    state,
                    _ts(store, NOW - 50 * DAY),
                    _ts(store, NOW + DAY),
                    None if closed is None else _ts(store, closed),
                    b"n" * 12,
                    b"s",
                ),
            )
    before = list(store.iter_audit())
    keeper = Housekeeper(store, POLICY, audit_key=KEY, gateway_id="gw", clock=lambda: NOW)
    counts = keeper.run_once()
    assert counts == {
        "frame_fingerprints": 1,
        "frame_hashes": 1,
        "sessions": 1,
        "review_cases": 1,
        "face_templates": 4,
    }
    for cccd, fate in expected.items():
        assert (store.template_info(cccd) is None) == (fate == "deleted"), cccd
    assert store.get_face_template("079000000009") is not None  # still decrypts
    assert [f.sha256 for f in store.fingerprints_after(0, NOW - 10 * DAY)] == [b"b" * 32]
    assert store.frame_hash_seen(b"y" * 32) and not store.frame_hash_seen(b"x" * 32)
    assert store.get_session("s-new") is not None and store.get_session("s-old") is None
    with store._read() as c:
        left = sorted(str(r["verification_id"]) for r in c.all("SELECT verification_id FROM review_cases"))
    assert left == ["case1", "case2"]  # the recently closed and the open case stay
    assert [len(store.consents_of(k)) for k in ("k1", "k2", "k3", "k4")] == [1, 1, 1, 1]  # consents are kept

    # audited: one record per deleted template under its pseudonym, one summary with the counts
    after = list(store.iter_audit())
    assert after[: len(before)] == before  # nothing earlier changed
    new = [json.loads(e.body) for e in after[len(before) :]]
    deleted_docs = {b["document"] for b in new if b["decision"] == "TEMPLATE_DELETED"}
    assert deleted_docs == {document_key(KEY, c) for c, fate in expected.items() if fate == "deleted"}
    summary = [b for b in new if b["decision"] == "RETENTION_APPLIED"]
    assert len(summary) == 1 and summary[0]["counts"] == counts
    # the chain holds through the deletions; records never held biometrics
    assert verify_chain(after).ok
    for entry in after:
        body = json.loads(entry.body)
        assert set(body) <= BODY_KEYS
        assert b"template-" not in entry.body.encode()
        assert "079000000001" not in entry.body
    # a second pass deletes nothing and writes no summary
    assert not any(keeper.run_once().values())
    assert len(list(store.iter_audit())) == len(after)


def test_kinds_with_no_period_are_kept(store: SqlStore) -> None:
    populate(store)
    keep = RetentionPolicy(
        frame_fingerprints=None,
        frame_hashes=None,
        sessions=None,
        review_cases=None,
        face_templates=None,
        delete_templates_without_consent=False,
    )
    counts = Housekeeper(store, keep, audit_key=KEY, gateway_id="gw", clock=lambda: NOW).run_once()
    # only what consent decides still goes: the withdrawn and the expired consents' templates
    assert counts == {"face_templates": 2}
    assert store.template_info("079000000003") is not None and store.template_info("079000000004") is not None

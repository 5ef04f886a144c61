"""Review cases behind the store port, on SQLite and PostgreSQL: open, list by facility and province,
close exactly once together with its audit record, expire."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from bhytgate.audit.chain import AuditEvent, builder, verify_chain
from bhytgate.policy.model import Reason
from bhytgate.storage.review import ACCEPTED, EXPIRED, OPEN, REJECTED, CaseNotOpen, ReviewCaseRecord

KEY = b"k" * 32
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _case(vid: str, facility: str = "79014", minutes: int = 30) -> ReviewCaseRecord:
    return ReviewCaseRecord(
        verification_id=vid,
        facility=facility,
        terminal_id="desk-02",
        terminal_kind="desk",
        state=OPEN,
        opened_at=NOW,
        expires_at=NOW + dt.timedelta(minutes=minutes),
        summary={"reasons": [{"code": "FRAUD_VELOCITY", "detail": "2 facilities within 6 h"}]},
    )


def _build(vid: str, decision: str) -> Any:
    event = AuditEvent(vid, NOW, decision, "79014", "reviewer-1", [Reason("REVIEW_REJECTED", "x")], "review")
    return builder(event, KEY)


def test_cases_open_list_and_close_once_with_their_record(store: Any) -> None:
    assert store.schema_version() >= 4
    store.open_review_case(_case("a" * 32), b'{"cccd": "079099001234"}')
    store.open_review_case(_case("b" * 32, facility="79015"), b"{}")
    store.open_review_case(_case("c" * 32, facility="01001"), b"{}")
    case, payload = store.review_case("a" * 32)
    assert case.state == OPEN and case.province == "79" and payload == b'{"cccd": "079099001234"}'
    assert case.summary["reasons"][0]["code"] == "FRAUD_VELOCITY"
    facility = store.open_review_cases(facility="79014", province=None, now=NOW, limit=10)
    assert [c.verification_id for c in facility] == ["a" * 32]
    province = store.open_review_cases(facility=None, province="79", now=NOW, limit=10)
    assert {c.verification_id for c in province} == {"a" * 32, "b" * 32}

    store.close_review_case(
        "a" * 32,
        _build("a" * 32, ACCEPTED),
        state=ACCEPTED,
        at=NOW,
        reviewer="r1",
        resolution="ok",
        attestation="t",
    )
    closed, _ = store.review_case("a" * 32)
    assert (closed.state, closed.reviewer, closed.resolution, closed.attestation) == (
        ACCEPTED,
        "r1",
        "ok",
        "t",
    )
    with pytest.raises(CaseNotOpen):  # a second resolution, here or on another replica
        store.close_review_case(
            "a" * 32,
            _build("a" * 32, REJECTED),
            state=REJECTED,
            at=NOW,
            reviewer="r2",
            resolution="no",
            attestation=None,
        )
    assert store.audit_head()[0] == 1  # one record: the refused one was rolled back
    assert verify_chain(list(store.iter_audit())).ok
    assert store.open_review_cases(facility="79014", province=None, now=NOW, limit=10) == []


def test_an_expired_case_cannot_be_resolved_and_is_swept_once(store: Any) -> None:
    store.open_review_case(_case("d" * 32, minutes=1), b"{}")
    later = NOW + dt.timedelta(minutes=2)
    case, _ = store.review_case("d" * 32)
    assert case.state_at(later) == EXPIRED
    assert store.open_review_cases(facility="79014", province=None, now=later, limit=10) == []
    with pytest.raises(CaseNotOpen):
        store.close_review_case(
            "d" * 32,
            _build("d" * 32, ACCEPTED),
            state=ACCEPTED,
            at=later,
            reviewer="r",
            resolution="x",
            attestation=None,
        )
    assert store.audit_head()[0] == 0
    assert [c.verification_id for c in store.expired_review_cases(later)] == ["d" * 32]
    store.close_review_case(
        "d" * 32,
        _build("d" * 32, "REJECTED"),
        state=EXPIRED,
        at=later,
        reviewer=None,
        resolution=None,
        attestation=None,
    )
    assert store.expired_review_cases(later) == [] and store.review_case("d" * 32)[0].state == EXPIRED


def test_two_simultaneous_resolutions_have_one_winner(store: Any) -> None:
    store.open_review_case(_case("e" * 32), b"{}")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def resolve(state: str) -> None:
        barrier.wait()
        try:
            store.close_review_case(
                "e" * 32,
                _build("e" * 32, state),
                state=state,
                at=NOW,
                reviewer=state,
                resolution=state,
                attestation=None,
            )
            outcomes.append(state)
        except CaseNotOpen:
            outcomes.append("lost")

    threads = [threading.Thread(target=resolve, args=(s,)) for s in (ACCEPTED, REJECTED)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes).count("lost") == 1
    winner = next(o for o in outcomes if o != "lost")
    assert store.review_case("e" * 32)[0].state == winner and store.audit_head()[0] == 1

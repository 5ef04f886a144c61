"""The audit index row a body must have (Python's reading of migration 10's SQL), and the lockstep
walk that names the first record whose row is missing, different or extra. No database here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from bhytgate.audit import AuditEntry, AuditEvent, seal
from bhytgate.audit.chain import GENESIS_HASH, document_key, event_body
from bhytgate.audit.index import IndexRow, differences, expected_row, verify_index

KEY = b"audit-hmac-key-for-tests-32bytes"
T0 = dt.datetime(2026, 5, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)


def body(event: AuditEvent, seq: int = 0) -> str:
    return seal(seq, GENESIS_HASH, event_body(event, KEY, seq)).body


def verify_event(**kw: Any) -> AuditEvent:
    base = AuditEvent("v-1", T0, "ACCEPTED", "01001", "desk-1", document_number="079200000123")
    return dataclasses.replace(base, **kw)


def test_a_verify_decision() -> None:
    row = expected_row(3, body(verify_event(), 3))
    assert row == IndexRow(3, "01001", "01", document_key(KEY, "079200000123"), T0, "verify")
    assert row is not None and row.at is not None and row.at.utcoffset() == dt.timedelta(0)


def test_a_time_in_another_zone_is_indexed_in_utc() -> None:
    hanoi = dt.timezone(dt.timedelta(hours=7))
    row = expected_row(0, body(verify_event(at=T0.astimezone(hanoi))))
    assert row is not None and row.at == T0


def test_a_counter_action_without_a_document() -> None:
    event = verify_event(action="consent", decision="CONSENT_GRANTED", document_number=None, operator="Lan")
    row = expected_row(0, body(event))
    assert row == IndexRow(0, "01001", "01", None, T0, "consent")


def test_an_empty_action_is_a_verify_and_a_missing_facility_is_empty() -> None:
    assert expected_row(0, json.dumps({"action": "", "seq": 0})) == IndexRow(0, "", "", None, None, "verify")


def test_a_long_facility_is_not_indexed() -> None:
    row = expected_row(0, body(verify_event(facility="7" * 65)))
    assert row is not None and (row.facility, row.province) == ("", "")
    row = expected_row(0, body(verify_event(facility="7" * 64)))
    assert row is not None and (row.facility, row.province) == ("7" * 64, "77")


def test_a_long_document_is_not_indexed() -> None:
    row = expected_row(0, json.dumps({"document": "a" * 129}))
    assert row is not None and row.document is None
    row = expected_row(0, json.dumps({"document": "a" * 128}))
    assert row is not None and row.document == "a" * 128


def test_a_missing_or_other_at_has_no_time() -> None:
    for at in (
        None,
        "2026-05-04T05:06:07Z",
        "2026-05-04T05:06:07.890123+00:00",
        "2026-05-04 05:06:07.890123Z",
    ):
        row = expected_row(0, json.dumps({"facility": "01001", "at": at}))
        assert row is not None and row.at is None and not row.unchecked, at
    row = expected_row(0, json.dumps({"facility": "01001"}))
    assert row is not None and row.at is None


def test_values_the_engines_read_differently_are_left_unchecked() -> None:
    row = expected_row(
        0, json.dumps({"facility": True, "document": [1], "at": "2026-02-30T00:00:00.000000Z"})
    )
    assert row is not None and row.unchecked == {"facility", "province", "document", "at"}
    row = expected_row(0, json.dumps({"facility": 1001, "document": 7, "action": 3}))  # alike on both
    assert row == IndexRow(0, "1001", "10", "7", None, "3")


def test_a_body_that_is_not_an_object_has_no_row() -> None:
    for text in ("[1,2,3]", '"01001"', "not json", "null", ""):
        assert expected_row(0, text) is None, text


def test_differences_name_the_fields() -> None:
    want = IndexRow(0, "01001", "01", "d", T0, "verify")
    assert differences(want, want) == ()
    other = dataclasses.replace(want, facility="79014", at=T0 + dt.timedelta(microseconds=1))
    assert differences(want, other) == ("facility", "at")
    assert differences(dataclasses.replace(want, unchecked=frozenset({"facility"})), other) == ("at",)


# -- the walk -----------------------------------------------------------------------------------------


def log(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(n):
        event = verify_event(verification_id=f"v-{seq}", at=T0 + dt.timedelta(seconds=seq), facility="01001")
        out.append(seal(seq, prev, event_body(event, KEY, seq)))
        prev = out[-1].hash
    return out


def rows_of(entries: list[AuditEntry]) -> list[IndexRow]:
    rows = [expected_row(e.seq, e.body) for e in entries]
    return [r for r in rows if r is not None]


def test_a_clean_index_verifies() -> None:
    entries = log(5)
    report = verify_index(entries, rows_of(entries), 5)
    assert report.ok and report.checked == 5 and report.first_broken_index is None


def test_a_missing_row_an_altered_row_and_an_extra_row_are_named() -> None:
    entries = log(6)
    rows = rows_of(entries)
    missing = verify_index(entries, rows[:3] + rows[4:], 6)
    assert (missing.ok, missing.first_broken_index) == (False, 3)
    assert missing.reason == (
        "audit index row missing for record 3 (the dashboard and the export would not find it)"
    )
    last = verify_index(entries, rows[:5], 6)
    assert (last.ok, last.first_broken_index) == (False, 5)
    altered = [*rows[:2], dataclasses.replace(rows[2], facility="79014", province="79"), *rows[3:]]
    report = verify_index(entries, altered, 6)
    assert (report.ok, report.first_broken_index) == (False, 2)
    assert report.reason == "audit index row of record 2 differs from its record (facility, province)"
    extra = [dataclasses.replace(rows[0], seq=-1), *rows]
    report = verify_index(entries, extra, 6)
    assert (report.ok, report.first_broken_index, report.reason) == (
        False,
        -1,
        "audit index row -1 has no record",
    )


def test_records_and_rows_appended_after_the_chain_was_read_are_left() -> None:
    entries = log(6)
    report = verify_index(entries, rows_of(entries), 4)  # the chain checked 4 records; 2 came since
    assert report.ok and report.checked == 4
    assert verify_index(entries[:4], rows_of(entries), 4).ok

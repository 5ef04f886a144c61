"""The audit index (migration 10) checked against the records it was built from.

`audit_index` is filled by a database trigger from each appended body and chooses which records the
console's dashboard and the holder's export read, but the hash chain does not cover it: a deleted or
altered row hides a record while the chain still verifies. `expected_row` is the row the trigger
writes for one body, in Python, mirroring storage/schema.py's SQLite and PostgreSQL statements;
`verify_index` walks the records and the index in seq order and names the first that disagree.

Pure logic, no I/O (`verify_log` only calls the store's two paged reads). Run after `verify_chain`:
the chain has then checked that every body is a canonical JSON object under its hash, so the
readings below are of bodies as the gateway writes them (strings for facility, document, action and
`at`). Where the two engines read an odd value differently (a boolean, fraction, array or object in
place of a string; an `at` of the right form but no real time, e.g. 30 February, which SQLite rolls
over and PostgreSQL leaves without a time) the field is in `unchecked` rather than guessed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from bhytgate.audit.chain import AuditEntry, ChainReport, verify_chain

# The only `at` the index reads (what chain._utc_iso writes): SQLite's GLOB, PostgreSQL's regex.
_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z", re.ASCII)
_FACILITY_MAX = 64  # longer: indexed as '' (a B-tree key bound, schema._SQLITE_INDEX_ROW)
_DOCUMENT_MAX = 128  # longer: not indexed
_INT64 = 2**63  # SQLite's json_extract turns a larger integer into a float


@dataclasses.dataclass(frozen=True, slots=True)
class IndexRow:
    """One `audit_index` row; `unchecked` names the fields an expected row cannot predict alike
    on both engines (empty for a row read from the store)."""

    seq: int
    facility: str
    province: str
    document: str | None
    at: dt.datetime | None
    action: str
    unchecked: frozenset[str] = frozenset()
    # The engines disagree on whether such a body has a row at all (see `expected_row`).
    optional: bool = False
    # Fields of a row read from the store whose stored value no Python value holds (an `at`
    # beyond datetime's range): they differ from any expected row that judges them.
    unreadable: frozenset[str] = frozenset()


class _Unreadable(Exception):
    """A JSON value the two engines turn into different text."""


def _text(value: Any) -> str | None:
    """What both SQLite's json_extract (stored in a TEXT column) and PostgreSQL's ->> give."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64:
        return str(value)
    raise _Unreadable


def _at(value: Any) -> dt.datetime | None:
    """Microsecond UTC time from the exact form only; `_Unreadable` for that form without a real time."""
    if not (isinstance(value, str) and _AT.fullmatch(value)):
        return None
    try:
        return dt.datetime(  # by position (the form is fixed): strptime would be most of the check's time
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            int(value[20:26]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        raise _Unreadable from None


def expected_row(seq: int, body: str) -> IndexRow | None:
    """The row migration 10's trigger writes for `body`; None (no row) for a body not a JSON object."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    if "\\u0000" in body:
        # A NUL anywhere: PostgreSQL's jsonb refuses it, so its trigger writes no row, and SQLite's
        # length() stops at it. Such a record may or may not have a row; whatever is there is
        # not judged (review, 2026-12-02: a healthy PostgreSQL log was reported broken).
        return IndexRow(seq, "", "", None, None, "verify", frozenset(_FIELDS), optional=True)
    unchecked: set[str] = set()
    facility, province, document, action = "", "", None, "verify"
    at: dt.datetime | None = None
    try:
        facility = _text(parsed.get("facility")) or ""
        if len(facility) > _FACILITY_MAX:
            facility = ""
        province = facility[:2]
    except _Unreadable:
        unchecked |= {"facility", "province"}
    try:
        document = _text(parsed.get("document"))
        if document is not None and len(document) > _DOCUMENT_MAX:
            document = None
    except _Unreadable:
        unchecked.add("document")
    try:
        at = _at(parsed.get("at"))
    except _Unreadable:
        unchecked.add("at")
    try:
        action = _text(parsed.get("action")) or "verify"
    except _Unreadable:
        unchecked.add("action")
    return IndexRow(seq, facility, province, document, at, action, frozenset(unchecked))


_FIELDS = ("facility", "province", "document", "at", "action")


def differences(expected: IndexRow, actual: IndexRow) -> tuple[str, ...]:
    """The fields of `actual` that are not what `expected` says (its unchecked ones aside)."""
    return tuple(
        f
        for f in _FIELDS
        if f not in expected.unchecked
        and (f in actual.unreadable or getattr(expected, f) != getattr(actual, f))
    )


def _broken(seq: int, detail: str, checked: int) -> ChainReport:
    return ChainReport(False, seq, detail, checked)


def verify_index(entries: Iterable[AuditEntry], rows: Iterable[IndexRow], count: int) -> ChainReport:
    """Compare the first `count` records (a verified chain: seq 0..count-1) with the index rows
    below seq `count`, both in seq order, streaming. Later records and rows (appended since the
    chain was read) are left to the next check. `first_broken_index` is the seq at fault."""
    row_it: Iterator[IndexRow] = itertools.takewhile(lambda r: r.seq < count, rows)
    row = next(row_it, None)
    for entry in itertools.takewhile(lambda e: e.seq < count, entries):
        if row is not None and row.seq < entry.seq:
            return _broken(row.seq, f"audit index row {row.seq} has no record", count)
        expected = expected_row(entry.seq, entry.body)
        here = row is not None and row.seq == entry.seq
        if expected is None:
            if here:
                return _broken(entry.seq, f"audit index row {entry.seq} indexes a body it cannot read", count)
            continue
        if expected.optional:
            if here:
                row = next(row_it, None)
            continue
        if row is None or not here:
            return _broken(
                entry.seq,
                f"audit index row missing for record {entry.seq}"
                " (the dashboard and the export would not find it)",
                count,
            )
        diff = differences(expected, row)
        if diff:
            return _broken(
                entry.seq,
                f"audit index row of record {entry.seq} differs from its record ({', '.join(diff)})",
                count,
            )
        row = next(row_it, None)
    if row is not None:
        return _broken(row.seq, f"audit index row {row.seq} has no record", count)
    return ChainReport(True, None, "ok", count)


class IndexedLog(Protocol):
    """What of the store this check reads (`SqlStore` has it)."""

    def iter_audit(self, from_seq: int = 0) -> Iterator[AuditEntry]: ...

    def iter_audit_index(self, from_seq: int = -(2**63)) -> Iterator[IndexRow]: ...

    def audit_index_row_without_record(self, from_seq: int) -> int | None: ...


def verify_log(store: IndexedLog) -> ChainReport:
    """The hash chain first; when it holds, the index against the records it verified (a second
    pass over the bodies, in lockstep with the index: memory stays one page of each), then any
    index row beyond them whose record does not exist (read in one statement, so a record
    appended meanwhile is not taken for one missing)."""
    report = verify_chain(store.iter_audit())
    if not report.ok:
        return report
    report = verify_index(store.iter_audit(), store.iter_audit_index(), report.checked)
    if not report.ok:
        return report
    orphan = store.audit_index_row_without_record(report.checked)
    if orphan is not None:
        return _broken(orphan, f"audit index row {orphan} has no record", report.checked)
    return report

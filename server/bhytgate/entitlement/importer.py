"""Bulk entitlement import: CSV (header row of Entitlement field names) or JSON Lines.

The importer only parses and validates; all-or-nothing is the caller's job (one storage
transaction, committed only when `errors` is empty). It reports every bad row with its row
number, field and message rather than stopping at the first, so one round trip fixes a file.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from typing import NamedTuple

from bhytgate.entitlement.benefit import BenefitPolicy
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validation import (
    FIELD_NAMES,
    REQUIRED_FIELDS,
    FieldError,
    build_entitlement,
    coerce_json_record,
)

MAX_INTEGER_DIGITS = 20
"""No entitlement field holds a longer integer. Longer ones are a row error, never parsed: Python's
int() refuses more than 4,300 digits with a ValueError, and anything near that is no field value."""

MAX_FIELD_NAME_CHARS = 64
"""Column and key names in error reports are cut to this (an unknown key may be megabytes long)."""


class _LongInteger(str):
    """A JSON integer literal longer than MAX_INTEGER_DIGITS, kept as its text (never int())."""


def _bounded_int(text: str) -> int | str:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        return _LongInteger(text)
    return int(text)


def _field_name(name: str) -> str:
    return name if len(name) <= MAX_FIELD_NAME_CHARS else name[:MAX_FIELD_NAME_CHARS] + "…"


class ImportFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class RowError(NamedTuple):
    # CSV: spreadsheet row (header = 1, first record = 2); JSONL: line number; 0: the whole file.
    row: int
    field: str  # column / key; "" for the row as a whole
    message: str


class ImportResult(NamedTuple):
    """Unpacks as ``records, errors = parse_entitlements(...)``."""

    records: list[Entitlement]
    errors: list[RowError]


def _decode(content: bytes) -> str | RowError:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return RowError(0, "", f"content is not valid UTF-8 (byte {exc.start})")


class _Accumulator:
    """Collects records and errors; flags a card number seen on two rows."""

    def __init__(self, policy: BenefitPolicy | None, province: str | None, rows: list[int] | None) -> None:
        self.policy = policy
        self.province = province  # the only province the importer may write, None for all
        self.rows = rows  # where given, the row of each record, in order
        self.records: list[Entitlement] = []
        self.errors: list[RowError] = []
        self._seen: dict[str, int] = {}

    def add(self, row: int, raw: dict[str, str | None], pre_errors: list[FieldError]) -> None:
        ent, errors = build_entitlement(raw, policy=self.policy)
        errors = pre_errors + errors
        if ent is not None and self.province is not None and ent.province_code != self.province:
            message = f"not {self.province}: this office imports its own province's cards"
            errors.append(FieldError("province_code", message))
        if ent is not None and not errors:
            first = self._seen.setdefault(ent.card_number, row)
            if first != row:
                errors.append(FieldError("card_number", f"duplicate of row {first}"))
            else:
                self.records.append(ent)
                if self.rows is not None:
                    self.rows.append(row)
        self.errors.extend(RowError(row, _field_name(e.field), e.message) for e in errors)

    def result(self) -> ImportResult:
        return ImportResult(self.records, self.errors)


def _parse_csv(text: str, acc: _Accumulator) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            acc.errors.append(RowError(0, "", "empty file: expected a header row of field names"))
            return
        columns = [name.strip() for name in header]
        fatal = False
        for name in columns:
            if name not in FIELD_NAMES:
                acc.errors.append(RowError(1, _field_name(name), "unknown column"))
            elif columns.count(name) > 1:
                acc.errors.append(RowError(1, _field_name(name), "duplicate column"))
                fatal = True
        for name in sorted(REQUIRED_FIELDS - set(columns)):
            acc.errors.append(RowError(1, name, "required column missing"))
            fatal = True
        if fatal:
            return
        known = [(i, name) for i, name in enumerate(columns) if name in FIELD_NAMES]
        for row, cells in enumerate(reader, start=2):
            if not cells or all(not cell.strip() for cell in cells):
                continue  # blank line
            if len(cells) != len(columns):
                acc.errors.append(RowError(row, "", f"has {len(cells)} cells, the header has {len(columns)}"))
                continue
            acc.add(row, {name: cells[i] for i, name in known}, [])
    except csv.Error as exc:
        acc.errors.append(RowError(reader.line_num, "", f"CSV syntax error: {exc}; stopped reading"))


def _parse_jsonl(text: str, acc: _Accumulator) -> None:
    for row, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_int=_bounded_int)
        except json.JSONDecodeError as exc:
            acc.errors.append(RowError(row, "", f"not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        except RecursionError:
            acc.errors.append(RowError(row, "", "not valid JSON: nested too deeply"))
            continue
        long_integers: list[FieldError] = []
        if isinstance(obj, dict):
            for key, value in list(obj.items()):
                if isinstance(value, _LongInteger):
                    message = f"integer of more than {MAX_INTEGER_DIGITS} digits; no field holds one"
                    long_integers.append(FieldError(key, message))
                    del obj[key]
        raw, pre_errors = coerce_json_record(obj)
        pre_errors = long_integers + pre_errors
        if not raw and pre_errors:
            acc.errors.extend(RowError(row, _field_name(e.field), e.message) for e in pre_errors)
            continue
        acc.add(row, raw, pre_errors)


def parse_entitlements(
    content: bytes,
    fmt: ImportFormat | str,
    *,
    policy: BenefitPolicy | None = None,
    province: str | None = None,
    rows: list[int] | None = None,
) -> ImportResult:
    """Parse and validate every record in `content` (UTF-8, optional BOM).

    `records` holds the valid ones, `errors` every problem found; import only if `errors` is empty.
    A card number on two rows is an error on the later row; with `province`, so is a card of any
    other province (a provincial office writes its own). `rows`, where given, receives the row of
    each record in `records`.
    """
    fmt = ImportFormat(fmt)
    acc = _Accumulator(policy, province, rows)
    text = _decode(content)
    if isinstance(text, RowError):
        acc.errors.append(text)
        return acc.result()
    if fmt is ImportFormat.CSV:
        _parse_csv(text, acc)
    else:
        _parse_jsonl(text, acc)
    return acc.result()

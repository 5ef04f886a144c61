"""The index trigger never refuses an append, whatever the body holds (it reads the body the
hash covers; a value it cannot read or index leaves no row, no time or no value). Both engines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory
from .test_store_contract import raw_exec

AT = "2026-05-04T12:00:00.000000Z"
DEEP = '{"facility":"01001","x":' + "[" * 3000 + "]" * 3000 + "}"
# (name, body text, what the index row holds: None for no row)
ODD: list[tuple[str, str, dict[str, Any] | None]] = [
    (
        "long facility",
        json.dumps({"facility": "7" * 1_000_000, "at": AT}),
        {"facility": "", "province": ""},
    ),
    (
        "long random facility",
        json.dumps({"facility": "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))}),
        {"facility": "", "province": ""},
    ),
    ("long document", json.dumps({"facility": "01001", "document": "ab" * 5000}), {"document": None}),
    ("numeric fields", json.dumps({"facility": 1001, "document": 7, "action": 3}), {"province": "10"}),
    (
        "null fields",
        json.dumps({"facility": None, "document": None, "action": None, "at": None}),
        {"action": "verify"},
    ),
    ("object facility", json.dumps({"facility": {"a": [1, 2]}, "at": ["x"]}), {"at": None}),
    (
        "impossible date",
        json.dumps({"facility": "01001", "at": "2026-13-45T25:61:61.000000Z"}),
        {"facility": "01001"},
    ),
    ("deep nesting", DEEP, None),
    ("not an object", "[1,2,3]", None),
    ("not JSON", "just text", None),
]


@pytest.mark.parametrize("name,text,expected", ODD, ids=[n for n, _, _ in ODD])
def test_an_odd_body_is_appended(
    store_factory: StoreFactory, name: str, text: str, expected: dict[str, Any] | None
) -> None:
    store = store_factory.open()
    assert isinstance(store, SqlStore)
    raw_exec(
        store_factory,
        store,
        "INSERT INTO audit_log (seq, prev_hash, hash, body) VALUES (0, ?, ?, ?)",
        ("0" * 64, "a" * 64, text),
    )
    with store._read() as c:
        assert c.one("SELECT body FROM audit_log WHERE seq = 0")["body"] == text
        rows = [dict(r) for r in c.all("SELECT * FROM audit_index")]
    if name == "deep nesting":  # SQLite's JSON reader stops at depth 1000 (no row); jsonb reads it
        return
    if expected is None:
        assert rows == []
    else:
        assert len(rows) == 1 and {k: rows[0][k] for k in expected} == expected

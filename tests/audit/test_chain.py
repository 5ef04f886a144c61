"""Audit chain: canonical bodies, minimal content, and the first broken link under tampering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditEvent,
    canonical_json,
    document_key,
    entry_hash,
    event_body,
    seal,
    verify_chain,
)

KEY = b"audit-hmac-key-for-tests-32bytes"
T0 = dt.datetime(2025, 3, 3, 7, 30, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class R:
    code: str
    detail: str


def ev(i: int, **kw: Any) -> AuditEvent:
    base = AuditEvent(
        verification_id=f"ver-{i}",
        at=T0 + dt.timedelta(seconds=i),
        decision="REJECTED" if i % 3 == 0 else "ACCEPTED",
        facility="01001",
        terminal_id="kiosk-7",
        reasons=(R("FACE_MISMATCH", "distance above threshold"),) if i % 3 == 0 else (),
        assurance_level="chip_aa_face_liveness",
        document_number="001090000001",
        operator="Trần Thị B",
        face_distance=0.41234567,
        face_threshold=0.5,
    )
    return dataclasses.replace(base, **kw)


def build_chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(n):
        e = seal(i, prev, event_body(ev(i), KEY, i))
        out.append(e)
        prev = e.hash
    return out


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": "ư", "c": None}]}) == '{"a":[1,{"c":null,"d":"ư"}],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_body_holds_no_personal_data_in_clear() -> None:
    body = event_body(ev(0), KEY, 0)
    text = canonical_json(body)
    assert "001090000001" not in text and "Trần" not in text
    assert body["document"] == document_key(KEY, "001090000001")
    assert body["operator"] != "Trần Thị B" and len(body["operator"]) == 64
    assert body["face_distance"] == 0.4123 and body["at"] == "2025-03-03T07:30:00.000000Z"
    assert set(body) == {
        "v",
        "seq",
        "action",
        "verification_id",
        "at",
        "decision",
        "reasons",
        "facility",
        "terminal",
        "assurance_level",
        "document",
        "operator",
        "face_distance",
        "face_threshold",
    }


def test_document_key_is_keyed() -> None:
    assert document_key(KEY, "001090000001") != document_key(
        b"another-key-of-32-bytes-length!!", "001090000001"
    )
    assert document_key(KEY, "001090000001") != document_key(KEY, "001090000002")
    with pytest.raises(ValueError):
        document_key(b"short", "x")


def test_hash_definition() -> None:
    e = build_chain(1)[0]
    assert e.prev_hash == GENESIS_HASH == "0" * 64
    import hashlib

    assert (
        e.hash == hashlib.sha256(bytes(32) + e.body.encode()).hexdigest() == entry_hash(GENESIS_HASH, e.body)
    )


def test_naive_time_and_mismatched_seq_refused() -> None:
    with pytest.raises(ValueError):
        event_body(ev(0, at=dt.datetime(2025, 1, 1)), KEY, 0)
    with pytest.raises(ValueError):
        seal(1, GENESIS_HASH, event_body(ev(0), KEY, 0))


def test_intact_chain_verifies() -> None:
    chain = build_chain(10)
    rep = verify_chain(chain, expected_head=chain[-1].hash)
    assert rep.ok and rep.first_broken_index is None and rep.checked == 10
    assert verify_chain([]).ok


def _edit_body(e: AuditEntry, **changes: object) -> AuditEntry:
    body = json.loads(e.body)
    body.update(changes)
    return dataclasses.replace(e, body=canonical_json(body))


def test_edited_body_detected() -> None:
    chain = build_chain(8)
    chain[5] = _edit_body(chain[5], decision="REVIEW")
    rep = verify_chain(chain)
    assert not rep.ok and rep.first_broken_index == 5 and "hash" in rep.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"seq":3,"x":NaN}', "not canonical"),  # parses; no canonical form (allow_nan=False)
        ('{"seq":3,"x":Infinity}', "not canonical"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),  # deeper than the parser goes
    ],
)
def test_a_body_the_parser_chokes_on_is_reported_not_raised(body: str, reason: str) -> None:
    """Someone with write access to the database may store any text, its hash recomputed: the
    check names the record, it does not crash (`admin audit` would have failed with INTERNAL)."""
    chain = build_chain(6)
    chain[3] = AuditEntry(3, chain[3].prev_hash, entry_hash(chain[3].prev_hash, body), body)
    rep = verify_chain(chain)
    assert not rep.ok and rep.first_broken_index == 3 and reason in rep.reason


def test_edited_body_with_recomputed_hash_breaks_next_link() -> None:
    chain = build_chain(8)
    edited = _edit_body(chain[3], decision="REVIEW")
    chain[3] = dataclasses.replace(edited, hash=entry_hash(edited.prev_hash, edited.body))
    rep = verify_chain(chain)
    assert not rep.ok and rep.first_broken_index == 4 and "prev_hash" in rep.reason


def test_edited_hash_detected() -> None:
    chain = build_chain(6)
    chain[2] = dataclasses.replace(chain[2], hash="f" * 64)
    rep = verify_chain(chain)
    assert (rep.ok, rep.first_broken_index) == (False, 2)


def test_deleted_row_detected() -> None:
    chain = build_chain(6)
    del chain[3]
    rep = verify_chain(chain)
    assert (rep.ok, rep.first_broken_index) == (False, 3)


def test_deleted_first_row_detected() -> None:
    rep = verify_chain(build_chain(4)[1:])
    assert (rep.ok, rep.first_broken_index) == (False, 0)


def test_reordered_rows_detected() -> None:
    chain = build_chain(6)
    chain[2], chain[4] = chain[4], chain[2]
    rep = verify_chain(chain)
    assert (rep.ok, rep.first_broken_index) == (False, 2)


def test_non_canonical_body_detected() -> None:
    chain = build_chain(3)
    spaced = json.dumps(json.loads(chain[1].body), sort_keys=True)  # same content, with whitespace
    chain[1] = dataclasses.replace(chain[1], body=spaced, hash=entry_hash(chain[1].prev_hash, spaced))
    rep = verify_chain(chain)
    assert (rep.ok, rep.first_broken_index) == (False, 1) and "canonical" in rep.reason


def test_seq_mismatch_detected() -> None:
    chain = build_chain(3)
    chain[1] = dataclasses.replace(chain[1], seq=7)
    assert verify_chain(chain).first_broken_index == 1


def test_truncated_tail_needs_anchor() -> None:
    chain = build_chain(6)
    head = chain[-1].hash
    assert verify_chain(chain[:4]).ok  # undetectable without an anchor...
    rep = verify_chain(chain[:4], expected_head=head)  # ...and caught with one
    assert (rep.ok, rep.first_broken_index) == (False, 4)


def test_segment_verification() -> None:
    chain = build_chain(6)
    assert verify_chain(chain[3:], start_seq=3, start_prev_hash=chain[2].hash).ok


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=12),
    data=st.data(),
)
def test_any_single_byte_edit_is_found_at_or_before_it(n: int, data: st.DataObject) -> None:
    chain = build_chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    e = chain[i]
    field = data.draw(st.sampled_from(["body", "hash", "prev_hash"]))
    value = getattr(e, field)
    pos = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    repl = data.draw(st.sampled_from('0123456789abcdef{}",:x'))
    if value[pos] == repl:
        return
    chain[i] = dataclasses.replace(e, **{field: value[:pos] + repl + value[pos + 1 :]})
    rep = verify_chain(chain)
    assert not rep.ok and rep.first_broken_index == i

"""Audit records: canonical JSON bodies linked by SHA-256 into a tamper-evident chain.

Pure logic, no I/O: the store persists `AuditEntry` rows exactly as built here (the body text is the
hashed bytes, so it is stored verbatim, never re-serialised). A body carries no images, templates,
embeddings or names; the document number and operator are keyed HMACs so that the log can be shared
with an auditor without disclosing who was checked, while the same document still links across records.

A chain alone proves nothing against someone who rewrites every record after the edit and recomputes
the hashes; anchor the head hash elsewhere (`expected_head`) to catch that and tail truncation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bhytgate.storage.interface import Store

GENESIS_HASH = "00" * 32
BODY_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)  # with fullmatch: no trailing newline


class ReasonLike(Protocol):
    """Anything with a reason code and a detail (policy.Reason fits)."""

    @property
    def code(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    """One persisted record: `body` is canonical JSON text and is exactly what `hash` covers."""

    seq: int
    prev_hash: str
    hash: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEvent:
    """What the service knows about one decision; turned into a minimal, pseudonymised body."""

    verification_id: str
    at: dt.datetime
    decision: str
    facility: str
    terminal_id: str
    reasons: Sequence[ReasonLike] = ()
    action: str = "verify"
    assurance_level: str | None = None
    document_number: str | None = None  # hashed with the HMAC key, never stored in clear
    operator: str | None = None  # hashed too: staff names are personal data
    face_distance: float | None = None
    face_threshold: float | None = None
    # Counts of an administrative action (rows a retention run deleted); not in the body when None.
    counts: Mapping[str, int] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of `verify_chain`: `first_broken_index` is a position in the iterable given."""

    ok: bool
    first_broken_index: int | None
    reason: str
    checked: int


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text (no ASCII escaping), no NaN: one byte string per value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def document_key(hmac_key: bytes, document_number: str) -> str:
    """Keyed pseudonym of a document number: stable for linking, useless without the key."""
    if len(hmac_key) < 16:
        raise ValueError("audit HMAC key must be at least 16 bytes")
    return hmac.new(hmac_key, b"bhytgate-doc-v1\x00" + document_number.encode(), hashlib.sha256).hexdigest()


def _operator_key(hmac_key: bytes, operator: str) -> str:
    return hmac.new(hmac_key, b"bhytgate-operator-v1\x00" + operator.encode(), hashlib.sha256).hexdigest()


def _utc_iso(ts: dt.datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_body(event: AuditEvent, hmac_key: bytes, seq: int) -> dict[str, Any]:
    """The JSON body for one event: only what an auditor needs to re-check the decision."""
    body: dict[str, Any] = {
        "v": BODY_VERSION,
        "seq": seq,
        "action": event.action,
        "verification_id": event.verification_id,
        "at": _utc_iso(event.at),
        "decision": event.decision,
        "reasons": [{"code": r.code, "detail": r.detail} for r in event.reasons],
        "facility": event.facility,
        "terminal": event.terminal_id,
        "assurance_level": event.assurance_level,
        "document": None if event.document_number is None else document_key(hmac_key, event.document_number),
        "operator": None if event.operator is None else _operator_key(hmac_key, event.operator),
        "face_distance": None if event.face_distance is None else round(event.face_distance, 4),
        "face_threshold": None if event.face_threshold is None else round(event.face_threshold, 4),
    }
    if event.counts is not None:  # only then: the bodies of earlier records stay as they were
        body["counts"] = {str(k): int(v) for k, v in event.counts.items()}
    return body


def entry_hash(prev_hash: str, body_text: str) -> str:
    """SHA-256 over the previous hash's 32 raw bytes followed by the canonical body bytes."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body_text.encode("utf-8")).hexdigest()


def seal(seq: int, prev_hash: str, body: Mapping[str, Any]) -> AuditEntry:
    """Link a body to its predecessor; the body's own `seq` must agree with the row's."""
    if not _HEX64.fullmatch(prev_hash):
        raise ValueError("prev_hash must be 64 lowercase hex characters")
    if body.get("seq") != seq:
        raise ValueError("body seq does not match the entry seq")
    text = canonical_json(dict(body))
    return AuditEntry(seq=seq, prev_hash=prev_hash, hash=entry_hash(prev_hash, text), body=text)


def builder(event: AuditEvent, hmac_key: bytes) -> Callable[[int, str], AuditEntry]:
    """A callback for `Store.append_audit`, which supplies seq and head hash inside its transaction."""

    def build(seq: int, prev_hash: str) -> AuditEntry:
        return seal(seq, prev_hash, event_body(event, hmac_key, seq))

    return build


def append_event(store: Store, event: AuditEvent, hmac_key: bytes) -> AuditEntry:
    """Append one decision to the store's audit log atomically (no fork under concurrency)."""
    return store.append_audit(builder(event, hmac_key))


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    start_seq: int = 0,
    start_prev_hash: str = GENESIS_HASH,
    expected_head: str | None = None,
) -> ChainReport:
    """Find the FIRST broken link: an edited body or hash, a deleted, inserted or reordered row.

    `expected_head`, when given, is an externally anchored hash of the last record; a mismatch there
    reports a truncated or wholesale-rewritten tail at index `checked`.
    """
    prev = start_prev_hash
    count = 0
    for i, entry in enumerate(entries):
        count = i + 1
        if not (_HEX64.fullmatch(entry.hash) and _HEX64.fullmatch(entry.prev_hash)):
            return ChainReport(False, i, "malformed hash field", count)
        try:
            parsed = json.loads(entry.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return ChainReport(False, i, "body is not JSON", count)
        try:
            # NaN or Infinity parse but have no canonical form (allow_nan=False raises ValueError).
            canonical = canonical_json(parsed) if isinstance(parsed, dict) else None
        except (ValueError, RecursionError):
            canonical = None
        if canonical != entry.body:
            return ChainReport(False, i, "body is not canonical JSON", count)
        if not hmac.compare_digest(entry_hash(entry.prev_hash, entry.body), entry.hash):
            return ChainReport(False, i, "record hash does not match its body", count)
        if not hmac.compare_digest(entry.prev_hash, prev):
            return ChainReport(
                False, i, "prev_hash does not match the previous record (deleted or reordered)", count
            )
        if entry.seq != start_seq + i or parsed.get("seq") != entry.seq:
            return ChainReport(False, i, "sequence number out of order", count)
        prev = entry.hash
    if expected_head is not None and not hmac.compare_digest(prev, expected_head):
        return ChainReport(
            False, count, "chain head does not match the anchored head (truncated or rewritten)", count
        )
    return ChainReport(True, None, "ok", count)

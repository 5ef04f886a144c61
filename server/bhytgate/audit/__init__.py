"""Hash-chained, append-only audit records: built and verified here, persisted by the store."""

from bhytgate.audit.chain import (
    GENESIS_HASH,
    AuditEntry,
    AuditEvent,
    ChainReport,
    append_event,
    builder,
    canonical_json,
    document_key,
    entry_hash,
    event_body,
    seal,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditEvent",
    "ChainReport",
    "append_event",
    "builder",
    "canonical_json",
    "document_key",
    "entry_hash",
    "event_body",
    "seal",
    "verify_chain",
]

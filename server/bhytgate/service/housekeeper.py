"""The retention housekeeper: deletes what is past its retention, per kind, with its own period
each (privacy/policy.RetentionPolicy), and audits what it deleted.

Frame fingerprints and exact frame hashes (replay memory), counter sessions (sealed chip photo and
name), closed REVIEW cases (where that table exists: another migration adds it), and face
templates past their period or whose consent was withdrawn or has expired (or that have none).
Every replica may run it: each DELETE is its own transaction and a row is deleted once, so a
template's deletion is audited once. The audit log itself is never touched: it holds no
biometrics and no numbers in clear.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable

from bhytgate.audit.chain import AuditEvent, builder
from bhytgate.privacy.policy import RetentionPolicy
from bhytgate.storage.sql import SqlStore

log = logging.getLogger("bhytgate.housekeeper")


class Housekeeper:
    def __init__(
        self,
        store: SqlStore,
        policy: RetentionPolicy,
        *,
        audit_key: bytes,
        gateway_id: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.policy = policy
        self.audit_key = audit_key
        self.gateway_id = gateway_id
        self.clock = clock

    def run_once(self, now: dt.datetime | None = None) -> dict[str, int]:
        """One pass; returns the rows deleted per kind. Sync (call it in a thread)."""
        moment = now or self.clock()
        p = self.policy
        counts: dict[str, int] = {}
        if p.frame_fingerprints is not None:
            counts["frame_fingerprints"] = self.store.prune_fingerprints(moment - p.frame_fingerprints)
        if p.frame_hashes is not None:
            counts["frame_hashes"] = self.store.prune_frame_hashes(moment - p.frame_hashes)
        if p.sessions is not None:
            counts["sessions"] = self.store.purge_sessions(moment - p.sessions)
        if p.review_cases is not None and self.store.has_column("review_cases", p.review_cases_column):
            counts["review_cases"] = self.store.purge_older(
                "review_cases", p.review_cases_column, moment - p.review_cases
            )
        enrolled_before = (
            moment - p.face_templates
            if p.face_templates is not None
            else dt.datetime.min.replace(tzinfo=dt.UTC)
        )
        deleted = self.store.purge_templates(
            enrolled_before, moment, without_consent=p.delete_templates_without_consent
        )
        counts["face_templates"] = len(deleted)
        for cccd in deleted:  # each under the holder's pseudonym: their export shows it
            self._audit("TEMPLATE_DELETED", moment, document_number=cccd)
        if any(counts.values()):
            self._audit("RETENTION_APPLIED", moment, counts=counts)
        return counts

    def _audit(
        self,
        decision: str,
        at: dt.datetime,
        *,
        document_number: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        rid = uuid.uuid4().hex
        event = AuditEvent(
            rid,
            at,
            decision,
            "gateway",
            self.gateway_id,
            action="retention",
            document_number=document_number,
            counts=counts,
        )
        self.store.append_audit(builder(event, self.audit_key), record_id=rid)

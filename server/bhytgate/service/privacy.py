"""The holder's data rights at the counter (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): consent at
enrolment, the data-subject export, deleting the face template, withdrawing consent. Each answer is
immediate (the law allows two working days) and each is itself audited.

Who asks must be the data subject: every request names a verification of that CCCD at this
counter whose identity checks passed (chip + face), as a follow-up of the normal check.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from bhytgate.audit.chain import document_key
from bhytgate.privacy.policy import PrivacyConfig
from bhytgate.service.model import Caller, FailedPrecondition, db
from bhytgate.service.recorder import Recorder
from bhytgate.service.state import Session, Sessions
from bhytgate.storage.sql import SqlStore

EXPORT_VERSION = 1


class PrivacyService:
    def __init__(
        self,
        config: PrivacyConfig,
        store: SqlStore,
        sessions: Sessions,
        recorder: Recorder,
        *,
        audit_key: bytes,
        clock: Callable[[], dt.datetime],
        session_ttl: dt.timedelta,
    ) -> None:
        self.config = config
        self.store = store
        self.sessions = sessions
        self.recorder = recorder
        self.audit_key = audit_key
        self.clock = clock
        self.session_ttl = session_ttl

    # -- consent at enrolment -------------------------------------------------------------------

    def check_terms(self, version: str) -> None:
        if version != self.config.terms.version:
            raise FailedPrecondition(
                f"the holder consented to terms version {version}; the current terms are version "
                f"{self.config.terms.version}: show them and ask again"
            )

    def record_consent(self, caller: Caller, cccd: str, operator: str | None) -> int:
        """Store the consent (what, why, until when) and audit it; returns its id. Sync: called
        from the enrolment's storage thread."""
        now = self.clock()
        terms = self.config.terms
        consent_id = self.store.record_consent(
            document_key(self.audit_key, cccd),
            terms.purpose,
            terms.data_kinds,
            terms.version,
            now,
            self.config.consent_until(now),
            caller.terminal_id,
        )
        self.recorder.record_action(
            caller, "CONSENT_GRANTED", "consent", document_number=cccd, operator=operator
        )
        return consent_id

    # -- the data subject ----------------------------------------------------------------------

    async def _subject(self, caller: Caller, cccd: str, verification_id: str) -> Session:
        session: Session = await db(
            self.sessions.owned, verification_id, caller.terminal_id, caller.facility, self.clock()
        )
        if session.cccd_number != cccd or not session.identity_ok:
            raise FailedPrecondition(
                "a data-subject request needs the holder's own verification (chip and face) at this counter"
            )
        return session

    async def export(self, caller: Caller, cccd: str, verification_id: str, operator: str) -> tuple[str, str]:
        """(the export as JSON, the id of its audit record)."""
        await self._subject(caller, cccd, verification_id)
        document = await db(self._collect, cccd)
        rid = await db(
            lambda: self.recorder.record_action(
                caller, "EXPORTED", "subject_export", document_number=cccd, operator=operator
            )
        )
        assert isinstance(rid, str)
        return json.dumps(document, ensure_ascii=False, sort_keys=True), rid

    def _collect(self, cccd: str) -> dict[str, Any]:
        key = document_key(self.audit_key, cccd)
        now = self.clock()
        decisions = []
        # The audit log holds pseudonyms only: the holder's are resolved here, for the holder.
        # Found through the index by pseudonym (paged): the holder's records only, not the log.
        for text in self.store.audit_bodies_of(key):
            body = json.loads(text)
            if isinstance(body, dict) and body.get("document") == key:  # the hashed body decides
                decisions.append({k: v for k, v in body.items() if k not in ("document", "v")})
        template = self.store.template_info(cccd)
        consents = self.store.consents_of(key)
        link = self.store.linked_bhxh(cccd)
        cards = self.store.entitlements_by_cccd(cccd)
        bhxh_numbers = sorted(
            {c.social_insurance_number for c in cards} | ({link.bhxh_number} if link else set())
        )
        renewals = [
            {
                "payment_reference": ref,
                "order": order,
                "card_number": card,
                "valid_from": start,
                "valid_to": end,
            }
            for number in bhxh_numbers
            for ref, order, card, start, end in self.store.renewals_of_bhxh(number)
        ]
        report = self.store.lost_report(key)
        lock = self.store.biometric_lock_until(key, now)
        retention = self.config.retention
        return {
            "version": EXPORT_VERSION,
            "generated_at": now.isoformat(),
            "subject": {"cccd_number": cccd, "pseudonym": key},
            "decisions": decisions,
            "fraud_ledger": self.store.fraud_events_of(key),
            "biometric_lock_until": lock.isoformat() if lock else None,
            "face_template": None
            if template is None
            else {
                "exists": True,
                "model": f"{template.model_name} {template.model_version}",
                "enrolled_at": template.enrolled_at.isoformat(),
                "retention_until": (template.enrolled_at + retention.face_templates).isoformat()
                if retention.face_templates
                else None,
                "consent_id": template.consent_id,
                "note": "an encrypted 128-number face embedding; no image is kept",
            },
            "consents": [
                {
                    "consent_id": c.consent_id,
                    "purpose": c.purpose,
                    "data_kept": list(c.data_kinds),
                    "terms_version": c.terms_version,
                    "granted_at": c.granted_at.isoformat(),
                    "until": c.expires_at.isoformat(),
                    "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
                    "active": c.active(now),
                }
                for c in consents
            ],
            "social_insurance_link": None
            if link is None
            else {"bhxh_number": link.bhxh_number, "linked_at": link.linked_at.isoformat()},
            "cards": [
                {
                    "card_number": c.card_number,
                    "valid_from": c.valid_from.isoformat(),
                    "valid_to": c.valid_to.isoformat() if c.valid_to else None,
                    "registered_facility": c.registered_facility,
                }
                for c in cards
            ],
            "household_renewals": renewals,
            "lost_report": None
            if report is None
            else {"reason": report.reason, "reported_at": report.reported_at.isoformat()},
            "not_listed": {
                "counter_sessions": f"sealed, deleted within {self.session_ttl}; not searchable by CCCD",
                "frame_fingerprints": "hashes of capture frames, not linked to any person",
            },
        }

    async def delete_template(
        self, caller: Caller, cccd: str, verification_id: str, operator: str
    ) -> tuple[bool, str]:
        await self._subject(caller, cccd, verification_id)
        deleted = await db(self.store.delete_face_template, cccd)
        rid = await db(
            lambda: self.recorder.record_action(
                caller,
                "TEMPLATE_DELETED" if deleted else "NO_TEMPLATE",
                "subject_delete_template",
                document_number=cccd,
                operator=operator,
            )
        )
        assert isinstance(rid, str)
        return bool(deleted), rid

    async def withdraw(
        self, caller: Caller, cccd: str, verification_id: str, operator: str
    ) -> tuple[int, bool, str]:
        await self._subject(caller, cccd, verification_id)
        key = document_key(self.audit_key, cccd)
        withdrawn, deleted = await db(self.store.withdraw_consents, key, cccd, self.clock())
        rid = await db(
            lambda: self.recorder.record_action(
                caller,
                "CONSENT_WITHDRAWN",
                "subject_withdraw_consent",
                document_number=cccd,
                operator=operator,
            )
        )
        assert isinstance(rid, str)
        return int(withdrawn), bool(deleted), rid

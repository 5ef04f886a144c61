"""The check-in hook on the accepted path, and the by-id lookup.

`Checkins.on_accepted` is called once per acceptance, by the recorder, after the audit record and
the attestation, in the recorder's worker thread (so a caller hanging up does not lose it): it
builds the record, stores the pseudonymous row with the sealed record, and returns the result
carrying the record. A database failure there is `Unavailable` like any failure after the record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable

from bhytgate.checkin.keys import CheckinKeys
from bhytgate.checkin.record import (
    CheckinConfig,
    CheckinDetails,
    CheckinRecord,
    attestation_id,
    record_fields,
    render,
)
from bhytgate.entitlement.model import Entitlement
from bhytgate.service.model import Caller, NotFound, Unavailable, VerifyInput, VerifyResult
from bhytgate.storage.checkins import StoredCheckin
from bhytgate.storage.interface import StoreUnavailable
from bhytgate.storage.sql import SqlStore

log = logging.getLogger("bhytgate.checkin")
PURGE_EVERY_S = 600.0  # at most one purge of expired records and rows per 10 minutes


class Checkins:
    def __init__(
        self,
        store: SqlStore,
        audit_key: bytes,
        config: CheckinConfig,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.keys = CheckinKeys(audit_key)
        self.config = config
        self.clock = clock
        self._last_purge = -PURGE_EVERY_S

    def on_accepted(self, caller: Caller, inp: VerifyInput, result: VerifyResult, cccd: str) -> VerifyResult:
        """Store the check-in of an accepted verification; returns `result` with its record."""
        ent, token, level = result.entitlement, result.attestation, result.assurance_level
        if ent is None or token is None or level is None:
            return result
        record = self.store_checkin(
            verification_id=result.verification_id,
            facility=caller.facility,
            terminal_id=caller.terminal_id,
            entitlement=ent,
            attestation=token,
            assurance_level=level.value,
            cccd=cccd,
            arrived_at=result.verify_time,
            details=inp.checkin or CheckinDetails(),
        )
        return dataclasses.replace(result, checkin=record)

    def store_checkin(
        self,
        *,
        verification_id: str,
        facility: str,
        terminal_id: str,
        entitlement: Entitlement,
        attestation: str,
        assurance_level: str,
        cccd: str,
        arrived_at: dt.datetime,
        details: CheckinDetails,
    ) -> CheckinRecord:
        """The check-in of an acceptance, at the check or later (a review case an officer accepts:
        the arrival is still the check's own time, at the check's facility and terminal)."""
        ent, at = entitlement, arrived_at
        att = attestation_id(attestation)
        xml = render(
            record_fields(
                verification_id=verification_id,
                attestation=att,
                entitlement=ent,
                cccd=cccd,
                facility=facility,
                arrived_at=at,
                details=details,
            )
        )
        row = StoredCheckin(
            verification_id=verification_id,
            attestation_id=att,
            facility=facility,
            terminal_id=terminal_id,
            verified_at=at,
            assurance_level=assurance_level,
            cccd_key=self.keys.cccd(cccd),
            card_key=self.keys.card(ent.card_number),
            visit_key=self.keys.visit(facility, details.ma_lk) if details.ma_lk else None,
        )
        expires = at + self.config.record_ttl
        try:
            self.store.put_checkin(row, xml, expires, at + self.config.keep)
        except StoreUnavailable as exc:
            raise Unavailable(f"{exc}: the check-in record was not stored; start a new check") from None
        self.purge_if_due()
        return CheckinRecord(verification_id, att, xml, expires)

    def purge_if_due(self) -> None:
        """Called after each acceptance and by the server's periodic sweep (so a quiet gateway
        erases expired records too): one purge per PURGE_EVERY_S at most, per replica."""
        now = time.monotonic()
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            self.purge()

    def purge(self) -> None:
        try:
            records, rows = self.store.purge_checkins(self.clock())
        except StoreUnavailable:
            log.warning("check-in purge skipped: database unavailable")
            return
        if records or rows:
            log.info("purged %d expired check-in record(s), %d check-in row(s)", records, rows)

    def record_for(self, caller: Caller, verification_id: str) -> CheckinRecord:
        """The record, to a terminal of the facility that checked the patient in (its admin too;
        the national auditor may read any): other facilities learn nothing, not even that the
        verification exists (NOT_FOUND, as for an unknown id)."""
        found = self.store.checkin_record(verification_id, self.clock())
        scope = caller.facility_scope
        if found is None or (scope is not None and found.facility != scope):
            raise NotFound("no check-in record for this verification id (unknown, not accepted, or expired)")
        return CheckinRecord(verification_id, found.attestation_id, found.xml, found.expires_at)


__all__ = ["Checkins"]

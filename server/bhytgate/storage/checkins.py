"""Verified check-ins: the port (`CheckinStore`) and its SQL adapter (a mixin of `SqlStore`, so
SQLite and PostgreSQL both get it through the dialect).

A row holds what reconciliation matches on and least else: verification and attestation ids,
facility, terminal, time, assurance level, and keyed pseudonyms of the CCCD, the card and the
visit key (`checkin.keys`). The record itself (name, date of birth, numbers) is sealed with
AES-256-GCM under the template key (a cluster secret), its verification and attestation ids as
associated data, and kept only until `record_expires_at`; the row, until `keep_until`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bhytgate.storage._host import SqlHost

if TYPE_CHECKING:
    from bhytgate.storage._codec import TemplateSealer

# At most this many keys in one IN list (SQLite's default variable limit is 32766; PostgreSQL's 65535).
MAX_KEYS_PER_QUERY = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class StoredCheckin:
    """One verified check-in as reconciliation sees it (no personal data)."""

    verification_id: str
    attestation_id: str
    facility: str
    terminal_id: str
    verified_at: dt.datetime
    assurance_level: str
    cccd_key: str | None
    card_key: str | None
    visit_key: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class SealedRecord:
    facility: str
    attestation_id: str
    expires_at: dt.datetime
    xml: bytes


class CheckinStore(Protocol):
    def put_checkin(
        self, row: StoredCheckin, record: bytes, record_expires_at: dt.datetime, keep_until: dt.datetime
    ) -> None: ...

    def checkin_record(self, verification_id: str, now: dt.datetime) -> SealedRecord | None: ...

    def checkins_of(
        self, cccd_keys: Sequence[str], card_keys: Sequence[str], since: dt.datetime, until: dt.datetime
    ) -> list[StoredCheckin]: ...

    def purge_checkins(self, now: dt.datetime) -> tuple[int, int]: ...


class CheckinMixin(SqlHost):
    if TYPE_CHECKING:

        @property
        def _sealer(self) -> TemplateSealer: ...

    @staticmethod
    def _label(verification_id: str, attestation_id: str) -> str:
        return f"checkin:{verification_id}:{attestation_id}"

    def put_checkin(
        self, row: StoredCheckin, record: bytes, record_expires_at: dt.datetime, keep_until: dt.datetime
    ) -> None:
        nonce, sealed = self._sealer.seal_blob(self._label(row.verification_id, row.attestation_id), record)
        with self._tx() as c:
            c.execute(
                """INSERT INTO checkins (verification_id, attestation_id, facility, terminal_id,
                     verified_at, assurance_level, cccd_key, card_key, visit_key, record_nonce,
                     record_sealed, record_expires_at, keep_until)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    row.verification_id,
                    row.attestation_id,
                    row.facility,
                    row.terminal_id,
                    self._ts(row.verified_at),
                    row.assurance_level,
                    row.cccd_key,
                    row.card_key,
                    row.visit_key,
                    nonce,
                    sealed,
                    self._ts(record_expires_at),
                    self._ts(keep_until),
                ),
            )

    def checkin_record(self, verification_id: str, now: dt.datetime) -> SealedRecord | None:
        """The record while it is kept (an expired one is never returned, purged or not)."""
        with self._read() as c:
            row = c.one(
                """SELECT facility, attestation_id, record_nonce, record_sealed, record_expires_at
                   FROM checkins WHERE verification_id = ?""",
                (verification_id,),
            )
        if row is None or row["record_sealed"] is None:
            return None
        expires = self._from_ts(row["record_expires_at"])
        if expires <= now:
            return None
        attestation = str(row["attestation_id"])
        xml = self._sealer.open_blob(
            self._label(verification_id, attestation), bytes(row["record_nonce"]), bytes(row["record_sealed"])
        )
        return SealedRecord(str(row["facility"]), attestation, expires, xml)

    def _checkin(self, row: Any) -> StoredCheckin:
        return StoredCheckin(
            str(row["verification_id"]),
            str(row["attestation_id"]),
            str(row["facility"]),
            str(row["terminal_id"]),
            self._from_ts(row["verified_at"]),
            str(row["assurance_level"]),
            row["cccd_key"],
            row["card_key"],
            row["visit_key"],
        )

    def checkins_of(
        self, cccd_keys: Sequence[str], card_keys: Sequence[str], since: dt.datetime, until: dt.datetime
    ) -> list[StoredCheckin]:
        """Check-ins of any of these people between `since` and `until` (both inclusive)."""
        out: dict[str, StoredCheckin] = {}
        columns = (("cccd_key", sorted(set(cccd_keys))), ("card_key", sorted(set(card_keys))))
        with self._read() as c:
            for column, keys in columns:
                for start in range(0, len(keys), MAX_KEYS_PER_QUERY):
                    batch = keys[start : start + MAX_KEYS_PER_QUERY]
                    marks = ", ".join("?" * len(batch))
                    rows = c.all(
                        f"""SELECT verification_id, attestation_id, facility, terminal_id, verified_at,
                             assurance_level, cccd_key, card_key, visit_key FROM checkins
                           WHERE {column} IN ({marks}) AND verified_at >= ? AND verified_at <= ?""",  # noqa: S608  (fixed column names, placeholders only)
                        (*batch, self._ts(since), self._ts(until)),
                    )
                    for row in rows:
                        out[str(row["verification_id"])] = self._checkin(row)
        return sorted(out.values(), key=lambda r: (r.verified_at, r.verification_id))

    def purge_checkins(self, now: dt.datetime) -> tuple[int, int]:
        """Drop sealed records past their retention and rows past theirs: (records, rows)."""
        at = self._ts(now)
        with self._tx() as c:
            records = c.execute(
                """UPDATE checkins SET record_nonce = NULL, record_sealed = NULL
                   WHERE record_sealed IS NOT NULL AND record_expires_at <= ?""",
                (at,),
            ).rowcount
            rows = c.execute("DELETE FROM checkins WHERE keep_until <= ?", (at,)).rowcount
        return int(records), int(rows)

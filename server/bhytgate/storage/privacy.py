"""The holder's data rights in storage: consents, template deletion, what is held about a person,
and the retention purges the housekeeper runs. A mixin of `SqlStore`.

Nothing here touches the audit log: it never held biometrics or numbers in clear (records carry
HMAC pseudonyms), so deleting a template or a session leaves every record and the chain intact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

from bhytgate.storage._host import SqlHost

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentRecord:
    consent_id: int
    purpose: str
    data_kinds: tuple[str, ...]
    terms_version: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    withdrawn_at: dt.datetime | None
    terminal_id: str

    def active(self, now: dt.datetime) -> bool:
        return self.withdrawn_at is None and now < self.expires_at


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateInfo:
    """That a template exists, and its dates: never the template itself."""

    model_name: str
    model_version: str
    enrolled_at: dt.datetime
    consent_id: int | None


class PrivacyMixin(SqlHost):
    # -- consents ---------------------------------------------------------------------------------

    def record_consent(
        self,
        subject_key: str,
        purpose: str,
        data_kinds: Sequence[str],
        terms_version: str,
        granted_at: dt.datetime,
        expires_at: dt.datetime,
        terminal_id: str,
    ) -> int:
        with self._tx() as c:
            row = c.one(
                """INSERT INTO consents (subject_key, purpose, data_kinds, terms_version, granted_at,
                     expires_at, withdrawn_at, terminal_id)
                   VALUES (?, ?, ?, ?, ?, ?, NULL, ?) RETURNING id""",
                (
                    subject_key,
                    purpose,
                    json.dumps(list(data_kinds)),
                    terms_version,
                    self._ts(granted_at),
                    self._ts(expires_at),
                    terminal_id,
                ),
            )
            return int(row["id"])

    def consents_of(self, subject_key: str) -> list[ConsentRecord]:
        with self._read() as c:
            rows = c.all("SELECT * FROM consents WHERE subject_key = ? ORDER BY id", (subject_key,))
        return [
            ConsentRecord(
                int(r["id"]),
                str(r["purpose"]),
                tuple(json.loads(r["data_kinds"])),
                str(r["terms_version"]),
                self._from_ts(r["granted_at"]),
                self._from_ts(r["expires_at"]),
                None if r["withdrawn_at"] is None else self._from_ts(r["withdrawn_at"]),
                str(r["terminal_id"]),
            )
            for r in rows
        ]

    def withdraw_consents(self, subject_key: str, cccd_number: str, at: dt.datetime) -> tuple[int, bool]:
        """Withdraw every active consent of the subject and delete the template kept under it, in
        one transaction: (consents withdrawn, template deleted)."""
        with self._tx() as c:
            withdrawn = c.execute(
                "UPDATE consents SET withdrawn_at = ? WHERE subject_key = ? AND withdrawn_at IS NULL",
                (self._ts(at), subject_key),
            ).rowcount
            deleted = c.execute("DELETE FROM face_templates WHERE cccd_number = ?", (cccd_number,)).rowcount
        return int(withdrawn), bool(deleted)

    # -- templates --------------------------------------------------------------------------------

    def template_info(self, cccd_number: str) -> TemplateInfo | None:
        with self._read() as c:
            row = c.one(
                """SELECT model_name, model_version, enrolled_at, consent_id FROM face_templates
                   WHERE cccd_number = ?""",
                (cccd_number,),
            )
        if row is None:
            return None
        consent = row["consent_id"]
        return TemplateInfo(
            str(row["model_name"]),
            str(row["model_version"]),
            self._from_ts(row["enrolled_at"]),
            None if consent is None else int(consent),
        )

    def delete_face_template(self, cccd_number: str) -> bool:
        with self._tx() as c:
            return bool(
                c.execute("DELETE FROM face_templates WHERE cccd_number = ?", (cccd_number,)).rowcount
            )

    # -- retention --------------------------------------------------------------------------------

    def purge_templates(
        self, enrolled_before: dt.datetime, now: dt.datetime, *, without_consent: bool
    ) -> list[str]:
        """Delete the templates past their retention, those whose consent was withdrawn or has
        expired, and (`without_consent`) those kept under no recorded consent. Returns the CCCD
        numbers deleted (each gets its own audit record, under its pseudonym)."""
        with self._tx() as c:
            rows = c.all(
                """DELETE FROM face_templates
                   WHERE enrolled_at < ?
                      OR consent_id IN (SELECT id FROM consents
                                        WHERE withdrawn_at IS NOT NULL OR expires_at <= ?)
                      OR (? AND consent_id IS NULL)
                   RETURNING cccd_number""",
                (self._ts(enrolled_before), self._ts(now), bool(without_consent)),
            )
        return sorted(str(r["cccd_number"]) for r in rows)

    def has_column(self, table: str, column: str) -> bool:
        """Whether `table` exists here with `column` (tables other branches' migrations add)."""
        if not (_IDENT.fullmatch(table) and _IDENT.fullmatch(column)):
            raise ValueError("table and column names are lowercase identifiers")
        with self._read() as c:
            if self._d.name == "postgres":
                row = c.one(
                    """SELECT 1 AS x FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?""",
                    (table, column),
                )
                return row is not None
            rows = c.all("SELECT name FROM pragma_table_info(?)", (table,))
            return any(str(r["name"]) == column for r in rows)

    def purge_older(self, table: str, column: str, before: dt.datetime) -> int:
        """Delete rows of `table` whose timestamp `column` is before `before` (NULL never is)."""
        if not (_IDENT.fullmatch(table) and _IDENT.fullmatch(column)):
            raise ValueError("table and column names are lowercase identifiers")
        with self._tx() as c:
            return int(
                c.execute(
                    f"DELETE FROM {table} WHERE {column} < ?",  # noqa: S608  (identifiers checked above)
                    (self._ts(before),),
                ).rowcount
            )

    # -- what is held about one person (the data-subject export) ----------------------------------

    def fraud_events_of(self, document_key: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """The fraud ledger's rows for a pseudonym (facility, terminal, decision, when)."""
        with self._read() as c:
            rows = c.all(
                """SELECT facility, terminal_id, decision, face_mismatch, at FROM verification_events
                   WHERE document_key = ? ORDER BY id LIMIT ?""",
                (document_key, limit),
            )
        return [
            {
                "facility": str(r["facility"]),
                "terminal": str(r["terminal_id"]),
                "decision": str(r["decision"]),
                "face_mismatch": bool(r["face_mismatch"]),
                "at": self._from_ts(r["at"]).isoformat(),
            }
            for r in rows
        ]

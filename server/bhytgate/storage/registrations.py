"""Remote registrations and their attempt windows. A mixin of `SqlStore` (its `_tx`/`_read`,
dialect and sealer).

A registration is written in one transaction with everything it means: the one it supersedes
marked so, the CCCD's link to the BHXH number, and its audit record. The contact is sealed like a
session (AES-GCM, the registration id as associated data); the partial unique index keeps at most
one registration in force per CCCD even if two replicas raced past the registration lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bhytgate.audit.chain import AuditEntry
from bhytgate.storage._codec import check_bhxh, check_cccd
from bhytgate.storage._host import SqlHost
from bhytgate.storage.interface import ChallengeRecord

if TYPE_CHECKING:
    from bhytgate.registration.model import RegistrationRecord
    from bhytgate.storage._codec import TemplateSealer
    from bhytgate.storage.sql import Tx


_SUPERSEDED = "superseded"  # registration.model.Status.SUPERSEDED


class RegistrationConflict(Exception):
    """Another registration of the CCCD (or with this verification) was written meanwhile."""


class RegistrationStoreMixin(SqlHost):
    if TYPE_CHECKING:

        @property
        def _sealer(self) -> TemplateSealer: ...

        def _challenge(self, row: Any) -> ChallengeRecord: ...

        def _append_audit_in(
            self,
            c: Tx,
            build: Callable[[int, str], AuditEntry],
            *,
            record_id: str | None = None,
            challenge_id: str | None = None,
        ) -> AuditEntry: ...

    def challenge_by_id(self, challenge_id: str) -> ChallengeRecord | None:
        """A challenge as issued (spent or not), for binding what came with its check."""
        with self._read() as c:
            row = c.one("SELECT * FROM challenges WHERE challenge_id = ?", (challenge_id,))
        return None if row is None else self._challenge(row)

    def _registration(self, row: Any) -> RegistrationRecord:
        # Imported here: the registration model imports the policy vocabulary, which imports storage.
        from bhytgate.policy.model import AssuranceLevel
        from bhytgate.registration.integrity import Verdict
        from bhytgate.registration.model import Contact, ContactKind, RegistrationRecord, Status, Strength

        rid = str(row["registration_id"])
        contact = self._sealer.open_blob(
            f"registration:{rid}", bytes(row["contact_nonce"]), bytes(row["contact_sealed"])
        ).decode("ascii")
        return RegistrationRecord(
            registration_id=rid,
            cccd_number=row["cccd_number"],
            bhxh_number=row["bhxh_number"],
            contact=Contact(ContactKind(row["contact_kind"]), contact),
            status=Status(row["status"]),
            strength=Strength(AssuranceLevel(row["assurance_level"]), Verdict(row["integrity_verdict"])),
            verification_id=row["verification_id"],
            terminal_id=row["terminal_id"],
            facility=row["facility"],
            created_at=self._from_ts(row["created_at"]),
            attestation=row["attestation"],
            supersedes=row["supersedes"],
        )

    def registration_in_force(self, cccd_number: str) -> RegistrationRecord | None:
        """The CCCD's active or pending registration, if any."""
        with self._read() as c:
            row = c.one(
                "SELECT * FROM registrations WHERE cccd_number = ? AND status <> ?",
                (cccd_number, _SUPERSEDED),
            )
        return None if row is None else self._registration(row)

    def registration(self, registration_id: str) -> RegistrationRecord | None:
        with self._read() as c:
            row = c.one("SELECT * FROM registrations WHERE registration_id = ?", (registration_id,))
        return None if row is None else self._registration(row)

    def registration_used_verification(self, verification_id: str) -> bool:
        with self._read() as c:
            row = c.one("SELECT 1 AS x FROM registrations WHERE verification_id = ?", (verification_id,))
        return row is not None

    def save_registration(
        self, record: RegistrationRecord, audit: Callable[[int, str], AuditEntry], *, audit_id: str
    ) -> None:
        """Supersede `record.supersedes` (which must still be in force), insert, link, audit: all
        or nothing. RegistrationConflict when the registration in force is not the one expected."""
        check_cccd(record.cccd_number)
        check_bhxh(record.bhxh_number)
        nonce, sealed = self._sealer.seal_blob(
            f"registration:{record.registration_id}", record.contact.value.encode("ascii")
        )
        at = self._ts(record.created_at)
        try:
            with self._tx() as c:
                current = c.one(
                    "SELECT registration_id FROM registrations WHERE cccd_number = ? AND status <> ?",
                    (record.cccd_number, _SUPERSEDED),
                )
                if (None if current is None else current["registration_id"]) != record.supersedes:
                    raise RegistrationConflict("the registration in force changed meanwhile")
                if record.supersedes is not None:
                    c.execute(
                        "UPDATE registrations SET status = ?, superseded_at = ? WHERE registration_id = ?",
                        (_SUPERSEDED, at, record.supersedes),
                    )
                c.execute(
                    """INSERT INTO registrations (registration_id, cccd_number, bhxh_number,
                         contact_kind, contact_nonce, contact_sealed, status, assurance_level,
                         integrity_verdict, verification_id, terminal_id, facility, attestation,
                         supersedes, created_at, superseded_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)""",
                    (
                        record.registration_id,
                        record.cccd_number,
                        record.bhxh_number,
                        record.contact.kind.value,
                        nonce,
                        sealed,
                        record.status.value,
                        record.strength.level.value,
                        record.strength.integrity.value,
                        record.verification_id,
                        record.terminal_id,
                        record.facility,
                        record.attestation,
                        record.supersedes,
                        at,
                    ),
                )
                if record.status.value == "active":
                    c.execute(
                        """INSERT INTO cccd_links (cccd_number, bhxh_number, by_terminal, linked_at)
                           VALUES (?, ?, ?, ?)
                           ON CONFLICT (cccd_number) DO UPDATE SET bhxh_number = excluded.bhxh_number,
                             by_terminal = excluded.by_terminal, linked_at = excluded.linked_at""",
                        (record.cccd_number, record.bhxh_number, record.terminal_id, at),
                    )
                self._append_audit_in(c, audit, record_id=audit_id)
        except self._d.integrity:
            raise RegistrationConflict("another registration of this CCCD or verification exists") from None

    def drop_session(self, verification_id: str) -> None:
        """A verification is good for one registration attempt: its session goes once decided."""
        with self._tx(durable=False) as c:
            c.execute("DELETE FROM sessions WHERE verification_id = ?", (verification_id,))

    # -- attempt windows ---------------------------------------------------------------------------

    def hit_registration_window(self, scope: str, window_start: int, window_end: int) -> int:
        """Count one attempt in the window; returns the attempts so far (this one included)."""
        with self._tx(durable=False) as c:
            row = c.one(
                """INSERT INTO registration_windows (scope, window_start, window_end, hits)
                   VALUES (?, ?, ?, 1)
                   ON CONFLICT (scope, window_start) DO UPDATE SET hits = registration_windows.hits + 1
                   RETURNING hits""",
                (scope, window_start, window_end),
            )
        return int(row["hits"])

    def purge_registration_windows(self, ended_before: int) -> int:
        with self._tx(durable=False) as c:
            return int(
                c.execute("DELETE FROM registration_windows WHERE window_end < ?", (ended_before,)).rowcount
            )

"""Household renewals: the payment reference as idempotency key, the renewed cards and the audit
record in one transaction. A mixin of `SqlStore`.

Two calls with one payment reference, on one replica or several, renew once: PostgreSQL serialises
them on an advisory lock keyed by the reference (SQLite's writers are serialised by BEGIN
IMMEDIATE), and the second finds the first's row and returns its receipt. Two renewals of the same
member with different references are serialised by the member's row locks, so the second extends
from the first's new end (no overlap).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bhytgate.audit.chain import AuditEntry
from bhytgate.entitlement.model import Entitlement
from bhytgate.storage._codec import check_entitlement, entitlement_to_json
from bhytgate.storage._host import SqlHost

if TYPE_CHECKING:
    from bhytgate.storage.sql import Tx


class PaymentReferenceConflict(Exception):
    """The payment reference was already used for a different renewal."""


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRenewal:
    payment_reference: str
    request_digest: str
    receipt_id: str
    receipt: str  # the signed JWS
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RenewedCard:
    position: int
    before: Entitlement
    after: Entitlement


@dataclasses.dataclass(frozen=True, slots=True)
class RenewalPlan:
    """What the service decided from the members' current cards, to be written atomically."""

    receipt_id: str
    receipt: str
    cards: tuple[RenewedCard, ...]
    audits: tuple[tuple[str, Callable[[int, str], AuditEntry]], ...]  # (record id, builder)


# (kind, number): kind "cccd" or "bhxh"
MemberKey = tuple[str, str]


class HouseholdMixin(SqlHost):
    if TYPE_CHECKING:

        def _ent(self, row: Any) -> Entitlement: ...

        def _append_audit_in(
            self, c: Tx, build: Callable[[int, str], AuditEntry], *, record_id: str | None = None
        ) -> AuditEntry: ...

    def _renewal(self, row: Any) -> StoredRenewal:
        return StoredRenewal(
            str(row["payment_reference"]),
            str(row["request_digest"]),
            str(row["receipt_id"]),
            str(row["receipt"]),
            self._from_ts(row["created_at"]),
        )

    def household_renewal(self, payment_reference: str) -> StoredRenewal | None:
        with self._read() as c:
            row = c.one("SELECT * FROM household_renewals WHERE payment_reference = ?", (payment_reference,))
        return None if row is None else self._renewal(row)

    def renewals_of_bhxh(self, bhxh_number: str) -> list[tuple[str, int, str, str, str]]:
        """(payment reference, position, card, valid_from, valid_to) of the renewals naming a member."""
        with self._read() as c:
            rows = c.all(
                """SELECT payment_reference, position, card_number, valid_from, valid_to
                   FROM household_renewal_members WHERE bhxh_number = ? ORDER BY valid_from""",
                (bhxh_number,),
            )
        return [
            (
                str(r["payment_reference"]),
                int(r["position"]),
                str(r["card_number"]),
                str(r["valid_from"]),
                str(r["valid_to"]),
            )
            for r in rows
        ]

    def _member_cards(self, c: Tx, key: MemberKey) -> list[Entitlement]:
        kind, number = key
        by_cccd = """SELECT data FROM entitlements
            WHERE cccd_number = ?
               OR bhxh_number IN (SELECT l.bhxh_number FROM cccd_links l WHERE l.cccd_number = ?)
            ORDER BY card_number"""
        by_bhxh = "SELECT data FROM entitlements WHERE bhxh_number = ? ORDER BY card_number"
        statement, params = (by_cccd, (number, number)) if kind == "cccd" else (by_bhxh, (number,))
        if self._d.name == "postgres":  # the rows stay locked until the renewal commits
            statement += " FOR UPDATE"
        return [self._ent(r) for r in c.all(statement, params)]

    def apply_household_renewal(
        self,
        payment_reference: str,
        request_digest: str,
        members: Sequence[MemberKey],
        plan: Callable[[list[list[Entitlement]]], RenewalPlan],
        now: dt.datetime,
        terminal_id: str,
    ) -> tuple[StoredRenewal, bool]:
        """Renew once per payment reference: (the stored renewal, True when this call made it).

        `plan` gets each member's cards (locked until commit) and returns what to write; it runs
        only when the reference is new. PaymentReferenceConflict when the reference was used for
        another request (different members, period or payment day)."""
        with self._tx() as c:
            if self._d.name == "postgres":
                c.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(?))", ("bhytgate-renewal:" + payment_reference,)
                )
                # Members in one global order, so overlapping renewals cannot deadlock on them.
                for kind, number in sorted(set(members)):
                    c.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(?))", (f"bhytgate-member:{kind}:{number}",)
                    )
            row = c.one("SELECT * FROM household_renewals WHERE payment_reference = ?", (payment_reference,))
            if row is not None:
                found = self._renewal(row)
                if found.request_digest != request_digest:
                    raise PaymentReferenceConflict("this payment reference was used for a different renewal")
                return found, False
            decided = plan([self._member_cards(c, m) for m in members])
            stamp = self._ts(now)
            for card in decided.cards:
                check_entitlement(card.after)
                c.execute(
                    """UPDATE entitlements SET valid_from = ?, data = ?, updated_at = ?
                       WHERE card_number = ?""",
                    (
                        card.after.valid_from.isoformat(),
                        entitlement_to_json(card.after),
                        stamp,
                        card.after.card_number,
                    ),
                )
                c.execute(
                    """INSERT INTO household_renewal_members (payment_reference, position, card_number,
                         bhxh_number, old_valid_to, valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (
                        payment_reference,
                        card.position,
                        card.after.card_number,
                        card.after.social_insurance_number,
                        card.before.valid_to.isoformat() if card.before.valid_to else None,
                        card.after.valid_from.isoformat(),
                        card.after.valid_to.isoformat() if card.after.valid_to else None,
                    ),
                )
            c.execute(
                """INSERT INTO household_renewals (payment_reference, request_digest, receipt_id, receipt,
                     terminal_id, created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (payment_reference, request_digest, decided.receipt_id, decided.receipt, terminal_id, stamp),
            )
            for record_id, build in decided.audits:
                self._append_audit_in(c, build, record_id=record_id)
        return StoredRenewal(
            payment_reference, request_digest, decided.receipt_id, decided.receipt, now
        ), True

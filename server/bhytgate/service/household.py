"""The counter's household renewal: quote the premium, then renew the members' cards once per
payment reference, with a signed receipt and audit records written in the same transaction.

The payer proves who they are with the normal check at this counter (chip + face: a session whose
identity checks passed); the members are named by CCCD or BHXH number. The arithmetic is
household/premium.py, the dates household/validity.py, the atomic write storage/household.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.audit.chain import AuditEntry, AuditEvent, builder, document_key
from bhytgate.entitlement.model import Entitlement
from bhytgate.household.premium import PremiumError, Quote, member_share, quote
from bhytgate.household.receipt import Receipt, ReceiptMember, read_unverified, sign_receipt
from bhytgate.household.validity import RenewalPeriod, StartRule, renewal_period
from bhytgate.service.config import GatewayConfig
from bhytgate.service.model import AlreadyExists, Caller, FailedPrecondition, InvalidRequest, NotFound, db
from bhytgate.service.state import Session, Sessions
from bhytgate.storage.household import MemberKey, PaymentReferenceConflict, RenewalPlan, RenewedCard
from bhytgate.storage.sql import SqlStore


@dataclasses.dataclass(frozen=True, slots=True)
class MemberLine:
    member: MemberKey
    order: int
    share_percent: int
    monthly_vnd: int
    amount_vnd: int
    card_number: str = ""
    current_valid_to: dt.date | None = None
    period: RenewalPeriod | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class HouseholdResult:
    members: tuple[MemberLine, ...]
    base_salary_vnd: int
    months: int
    on: dt.date
    receipt_id: str = ""
    receipt: str = ""
    replayed: bool = False

    @property
    def total_vnd(self) -> int:
        return sum(m.amount_vnd for m in self.members)


def request_digest(members: Sequence[MemberKey], months: int, payer: str = "") -> str:
    """What a payment reference pays for: the members in order, the period and who paid (`payer`:
    their CCCD's pseudonym, so that the same person verified again replays, another conflicts)."""
    text = json.dumps(
        {"members": [list(m) for m in members], "months": months, "payer": payer},
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def reference_key(facility: str, payment_reference: str) -> str:
    """A payment reference is the facility's own (each counter numbers its cash receipts, so
    "CASH-0001" occurs at many): stored under the facility, a reference of 79014 is never 01001's,
    and no other facility replays 01001's receipt or learns that its reference exists (attack run,
    2026-12-03). "/" cannot occur in a reference (ids.payment_reference)."""
    return f"{facility}/{payment_reference}"


def _where(index: int) -> str:
    return f"members[{index}]"


class HouseholdService:
    def __init__(
        self,
        config: GatewayConfig,
        store: SqlStore,
        sessions: Sessions,
        *,
        audit_key: bytes,
        attestation_key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.sessions = sessions
        self.audit_key = audit_key
        self.attestation_key = attestation_key
        self.clock = clock

    # -- pure parts ---------------------------------------------------------------------------

    def _quote(self, count: int, months: int, on: dt.date) -> Quote:
        try:
            return quote(count, months, on, self.config.household.base_salary)
        except PremiumError as exc:
            field = "months" if "months" in str(exc) else "members"
            raise InvalidRequest([(field, str(exc))]) from None

    def _household_card(self, index: int, cards: Sequence[Entitlement]) -> Entitlement:
        """The member's household card: of a household group, not revoked or reduced; the one that
        runs longest when there are several."""
        if not cards:
            raise NotFound(f"{_where(index)}: no BHYT card on record for this member")
        usable = [c for c in cards if c.beneficiary_group in self.config.household.groups]
        if not usable:
            raise FailedPrecondition(
                f"{_where(index)}: the member's card is of group {cards[0].beneficiary_group}, "
                "not a household card; it is renewed through its own scheme"
            )
        usable = [c for c in usable if not c.revoked and not c.reduced_reason]
        if not usable:
            raise FailedPrecondition(f"{_where(index)}: the member's household card is revoked or reduced")
        return max(usable, key=lambda c: (c.valid_to or dt.date.max, c.card_number))

    def _lines(
        self, q: Quote, members: Sequence[MemberKey], cards: Sequence[Entitlement | None], on: dt.date
    ) -> tuple[MemberLine, ...]:
        lines = []
        seen: dict[str, int] = {}
        for i, (member, mq, card) in enumerate(zip(members, q.members, cards, strict=True)):
            if card is None:
                lines.append(MemberLine(member, mq.order, mq.share_percent, mq.monthly_vnd, mq.amount_vnd))
                continue
            if card.card_number in seen:
                raise InvalidRequest(
                    [(_where(i), f"names the same card as members[{seen[card.card_number]}]")]
                )
            seen[card.card_number] = i
            if card.valid_to is None:
                raise FailedPrecondition(f"{_where(i)}: the card has no end date; nothing to renew")
            period = renewal_period(card.valid_to, on, q.months, self.config.household.waiting)
            lines.append(
                MemberLine(
                    member,
                    mq.order,
                    mq.share_percent,
                    mq.monthly_vnd,
                    mq.amount_vnd,
                    card.card_number,
                    card.valid_to,
                    period,
                )
            )
        return tuple(lines)

    # -- reads --------------------------------------------------------------------------------

    def _cards(self, member: MemberKey) -> list[Entitlement]:
        kind, number = member
        return (
            self.store.entitlements_by_cccd(number)
            if kind == "cccd"
            else self.store.entitlements_by_bhxh(number)
        )

    async def quote(
        self, caller: Caller, members: Sequence[MemberKey], months: int, on: dt.date | None
    ) -> HouseholdResult:
        del caller  # any counter may quote; nothing is written
        day = on or self.clock().date()
        if len(set(members)) != len(members):
            raise InvalidRequest([("members", "a member is named twice")])
        q = self._quote(len(members), months, day)
        cards: list[Entitlement | None] = []
        for i, member in enumerate(members):
            found = await db(self._cards, member)
            cards.append(self._household_card(i, found) if found else None)
        return HouseholdResult(self._lines(q, members, cards, day), q.base_salary_vnd, q.months, day)

    async def _payer(self, caller: Caller, verification_id: str) -> Session:
        session: Session = await db(
            self.sessions.owned, verification_id, caller.terminal_id, caller.facility, self.clock()
        )
        if not session.identity_ok:
            raise FailedPrecondition("the payer's verification did not pass its identity checks")
        return session

    # -- the renewal ----------------------------------------------------------------------------

    async def renew(
        self,
        caller: Caller,
        payer_verification_id: str,
        members: Sequence[MemberKey],
        months: int,
        payment_reference: str,
        operator: str,
    ) -> HouseholdResult:
        if len(set(members)) != len(members):
            raise InvalidRequest([("members", "a member is named twice")])
        payer = await self._payer(caller, payer_verification_id)
        now = self.clock()
        day = now.date()
        q = self._quote(len(members), months, day)
        digest = request_digest(members, months, document_key(self.audit_key, payer.cccd_number))

        def plan(found: list[list[Entitlement]]) -> RenewalPlan:
            # Runs inside the renewal's transaction, on the members' cards as locked there.
            cards = [self._household_card(i, c) for i, c in enumerate(found)]
            lines = self._lines(q, members, cards, day)
            renewed = []
            receipt_members = []
            for line, card in zip(lines, cards, strict=True):
                period = line.period
                assert period is not None
                start = card.valid_from if period.rule is StartRule.CONTINUOUS else period.valid_from
                after = dataclasses.replace(card, valid_from=start, valid_to=period.valid_to)
                renewed.append(RenewedCard(line.order, card, after))
                receipt_members.append(
                    ReceiptMember(
                        line.order,
                        line.card_number,
                        line.monthly_vnd,
                        line.amount_vnd,
                        period.valid_from,
                        period.valid_to,
                        period.rule.value,
                        card.valid_to,
                    )
                )
            receipt = Receipt(
                receipt_id=uuid.uuid4().hex,
                issuer=self.config.gateway_id,
                payment_reference=payment_reference,
                paid_on=day,
                issued_at=now,
                facility=caller.facility,
                terminal_id=caller.terminal_id,
                payer_verification_id=payer_verification_id,
                base_salary_vnd=q.base_salary_vnd,
                months=months,
                members=tuple(receipt_members),
            )
            rid = receipt.receipt_id
            # One record for the payer and one per member whose CCCD is known, so each person's
            # export lists the renewal under their own pseudonym.
            audits = [
                (f"renewal-{rid}", self._event(caller, rid, "household_renew", payer.cccd_number, operator))
            ]
            audits += [
                (
                    f"renewal-{rid}-{c.card_number}",
                    self._event(caller, rid, "household_renewed_member", c.cccd_number, operator),
                )
                for c in cards
                if c.cccd_number
            ]
            return RenewalPlan(
                rid, sign_receipt(receipt, self.attestation_key), tuple(renewed), tuple(audits)
            )

        try:
            stored, created = await db(
                self.store.apply_household_renewal,
                reference_key(caller.facility, payment_reference),
                digest,
                list(members),
                plan,
                now,
                caller.terminal_id,
            )
        except PaymentReferenceConflict as exc:
            raise AlreadyExists(str(exc)) from None
        receipt = read_unverified(stored.receipt)
        lines = tuple(
            MemberLine(
                member,
                m.order,
                int(member_share(m.order) * 100),
                m.monthly_vnd,
                m.amount_vnd,
                m.card_number,
                m.previous_valid_to,
                RenewalPeriod(m.valid_from, m.valid_to, StartRule(m.start_rule)),
            )
            for member, m in zip(members, receipt.members, strict=True)
        )
        return HouseholdResult(
            lines,
            receipt.base_salary_vnd,
            receipt.months,
            receipt.paid_on,
            receipt.receipt_id,
            stored.receipt,
            replayed=not created,
        )

    def _event(
        self, caller: Caller, rid: str, action: str, cccd: str, operator: str
    ) -> Callable[[int, str], AuditEntry]:
        event = AuditEvent(
            f"{action}-{rid}",
            self.clock(),
            "RENEWED",
            caller.facility,
            caller.terminal_id,
            action=action,
            document_number=cccd,
            operator=operator,
        )
        return builder(event, self.audit_key)

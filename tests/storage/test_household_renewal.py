"""Household renewal over both engines, through the real service and store: extended from the
card's end, the waiting rule for a long lapse, idempotency per payment reference (repeated, two
concurrent calls, and two replicas of one PostgreSQL database), the signed receipt, the audit."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading

import pytest

from bhytgate.attestation import generate_key, jwks_json
from bhytgate.audit.chain import document_key, verify_chain
from bhytgate.entitlement.model import Entitlement
from bhytgate.household.receipt import ReceiptInvalid, verify_receipt
from bhytgate.household.validity import StartRule
from bhytgate.policy.model import Outcome, TerminalKind
from bhytgate.service.config import GatewayConfig
from bhytgate.service.household import HouseholdService
from bhytgate.service.model import AlreadyExists, Caller, FailedPrecondition, NotFound
from bhytgate.service.state import Session, Sessions
from bhytgate.storage.sql import SqlStore

from .conftest import StoreFactory

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
AUDIT_KEY = b"a" * 32
SIGNING = generate_key()
CALLER = Caller("counter-01", "79001", "counter", TerminalKind.DESK)
PAYER = "079090000001"


def card(n: int, *, valid_to: dt.date, group: str = "GD", cccd: str | None = None) -> Entitlement:
    bhxh = f"79000000{n:02d}"
    return Entitlement(
        card_number=f"{group}479{bhxh}",
        social_insurance_number=bhxh,
        cccd_number=cccd if cccd is not None else f"0790900000{n:02d}",
        full_name=f"Thành viên {n}",
        date_of_birth="01/01/1980",
        sex="Nữ",
        address="1 Lê Lợi, TP Hồ Chí Minh",
        beneficiary_group=group,
        benefit_code=4,
        province_code="79",
        registered_facility="79014",
        registered_facility_name="Bệnh viện Quận 1",
        issuing_office="BHXH Quận 1",
        valid_from=dt.date(2026, 1, 1),
        valid_to=valid_to,
    )


def service(store: SqlStore) -> HouseholdService:
    config = GatewayConfig(home=__import__("pathlib").Path("/nonexistent"))
    return HouseholdService(
        config,
        store,
        Sessions(store, dt.timedelta(minutes=30)),
        audit_key=AUDIT_KEY,
        attestation_key=SIGNING,
        clock=lambda: NOW,
    )


def payer_session(store: SqlStore, vid: str = "ab" * 16, *, identity_ok: bool = True) -> str:
    Sessions(store, dt.timedelta(minutes=30)).put(
        vid,
        Session(
            PAYER,
            "counter-01",
            identity_ok,
            Outcome.ACCEPTED,
            (),
            None,
            NOW,
            ("Payer", None),
            facility="79001",
        ),
    )
    return vid


def setup(store: SqlStore) -> list[Entitlement]:
    cards = [
        card(1, valid_to=dt.date(2026, 12, 31)),  # valid: extended from its end
        card(2, valid_to=dt.date(2026, 10, 15)),  # lapsed 1.5 months: from the payment day
        card(3, valid_to=dt.date(2026, 6, 30)),  # lapsed 5 months: waiting period
    ]
    store.upsert_entitlements(cards)
    return cards


MEMBERS = [("cccd", "079090000001"), ("bhxh", "7900000002"), ("cccd", "079090000003")]


def renew(
    svc: HouseholdService, vid: str, ref: str, members: list[tuple[str, str]] = MEMBERS, months: int = 12
):  # type: ignore[no-untyped-def]
    return asyncio.run(svc.renew(CALLER, vid, members, months, ref, "Lê Thu Hà"))


def test_renewal_extends_each_card_by_the_rule_and_signs_a_receipt(store: SqlStore) -> None:
    setup(store)
    svc = service(store)
    quote = asyncio.run(svc.quote(CALLER, MEMBERS, 12, None))
    assert [m.monthly_vnd for m in quote.members] == [105_300, 73_710, 63_180]
    assert quote.total_vnd == 2_906_280
    result = renew(svc, payer_session(store), "PAY-0001")
    assert not result.replayed and result.total_vnd == 2_906_280
    periods = [(m.period.valid_from, m.period.valid_to, m.period.rule) for m in result.members if m.period]
    assert periods == [
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31), StartRule.CONTINUOUS),
        (dt.date(2026, 12, 1), dt.date(2027, 11, 30), StartRule.FROM_PAYMENT),
        (dt.date(2026, 12, 31), dt.date(2027, 12, 30), StartRule.WAITING_PERIOD),
    ]
    # the cards themselves: a valid one keeps its start (no gap, no overlap); lapsed ones restart
    stored = {
        e.card_number: e
        for m in MEMBERS
        for e in (store.entitlements_by_cccd(m[1]) if m[0] == "cccd" else store.entitlements_by_bhxh(m[1]))
    }
    assert [(e.valid_from, e.valid_to) for e in sorted(stored.values(), key=lambda e: e.card_number)] == [
        (dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
        (dt.date(2026, 12, 1), dt.date(2027, 11, 30)),
        (dt.date(2026, 12, 31), dt.date(2027, 12, 30)),
    ]
    receipt = verify_receipt(result.receipt, jwks_json([SIGNING.public_key()]))
    assert receipt.total_vnd == 2_906_280 and receipt.payment_reference == "PAY-0001"
    assert [m.card_number for m in receipt.members] == sorted(stored)
    assert "079090000001" not in result.receipt  # no CCCD in the receipt
    with pytest.raises(ReceiptInvalid):
        verify_receipt(result.receipt, jwks_json([generate_key().public_key()]))
    # audited: the payer's record and one per member, under their pseudonyms; the chain holds
    entries = list(store.iter_audit())
    assert verify_chain(entries).ok
    docs = [__import__("json").loads(e.body)["document"] for e in entries]
    assert document_key(AUDIT_KEY, PAYER) in docs and document_key(AUDIT_KEY, "079090000003") in docs
    assert len(entries) == 4
    # a second renewal (another payment) extends from the new end: no overlap
    again = renew(svc, payer_session(store), "PAY-0002", members=[MEMBERS[0]], months=3)
    assert again.members[0].period is not None
    assert again.members[0].period.valid_from == dt.date(2028, 1, 1)


def test_the_same_payment_reference_renews_once(store: SqlStore) -> None:
    setup(store)
    svc = service(store)
    vid = payer_session(store)
    first = renew(svc, vid, "PAY-IDEM")
    second = renew(svc, vid, "PAY-IDEM")
    assert second.replayed and not first.replayed
    assert second.receipt == first.receipt and second.receipt_id == first.receipt_id
    assert store.entitlements_by_bhxh("7900000001")[0].valid_to == dt.date(2027, 12, 31)
    assert len(list(store.iter_audit())) == 4
    with pytest.raises(AlreadyExists):
        renew(svc, vid, "PAY-IDEM", months=6)
    with pytest.raises(AlreadyExists):
        renew(svc, vid, "PAY-IDEM", members=MEMBERS[:2])


def _concurrently(calls: list) -> list:  # type: ignore[type-arg]
    results: list = [None] * len(calls)  # type: ignore[type-arg]
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # surfaced below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_concurrent_calls_with_one_reference_renew_once(store: SqlStore) -> None:
    setup(store)
    svc = service(store)
    vid = payer_session(store)
    results = _concurrently([lambda: renew(svc, vid, "PAY-RACE")] * 2)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(r.replayed for r in results) == [False, True]
    assert results[0].receipt == results[1].receipt
    assert store.entitlements_by_bhxh("7900000001")[0].valid_to == dt.date(2027, 12, 31)
    assert len(list(store.iter_audit())) == 4


@pytest.mark.postgres
def test_two_replicas_with_one_reference_renew_once(store_factory: StoreFactory) -> None:
    if store_factory.kind != "postgres":
        pytest.skip("replicas share a PostgreSQL database")
    a, b = store_factory.open(), store_factory.open()
    assert isinstance(a, SqlStore) and isinstance(b, SqlStore)
    setup(a)
    vid = payer_session(a)
    svc_a, svc_b = service(a), service(b)
    for round_ in range(5):
        ref = f"PAY-REPLICAS-{round_}"
        results = _concurrently(
            [lambda r=ref: renew(svc_a, vid, r, months=3), lambda r=ref: renew(svc_b, vid, r, months=3)]
        )
        assert not any(isinstance(r, Exception) for r in results), results
        assert sorted(r.replayed for r in results) == [False, True]
        assert results[0].receipt == results[1].receipt
    # five 3-month renewals, each exactly once: 2026-12-31 + 15 months
    assert b.entitlements_by_bhxh("7900000001")[0].valid_to == dt.date(2028, 3, 31)
    assert verify_chain(b.iter_audit()).ok


def test_payer_and_members_are_checked(store: SqlStore) -> None:
    setup(store)
    store.upsert_entitlements([card(4, valid_to=dt.date(2027, 1, 31), group="DN")])
    svc = service(store)
    with pytest.raises(NotFound):
        renew(svc, "cd" * 16, "PAY-X")
    with pytest.raises(FailedPrecondition):
        renew(svc, payer_session(store, "ef" * 16, identity_ok=False), "PAY-X")
    vid = payer_session(store)
    with pytest.raises(FailedPrecondition, match="group DN"):
        renew(svc, vid, "PAY-X", members=[("bhxh", "7900000004")])
    with pytest.raises(NotFound, match=r"members\[1\]"):
        renew(svc, vid, "PAY-X", members=[MEMBERS[0], ("bhxh", "7900000099")])
    from bhytgate.service.model import InvalidRequest

    with pytest.raises(InvalidRequest, match="same card"):  # one person by CCCD and by BHXH
        renew(svc, vid, "PAY-X", members=[("cccd", "079090000001"), ("bhxh", "7900000001")])
    assert store.household_renewal("PAY-X") is None  # nothing written by a refused call
    assert list(store.iter_audit()) == []
    revoked = dataclasses.replace(card(5, valid_to=dt.date(2027, 1, 31)), revoked=True)
    store.upsert_entitlements([revoked])
    with pytest.raises(FailedPrecondition, match="revoked"):
        renew(svc, vid, "PAY-Y", members=[("bhxh", "7900000005")])

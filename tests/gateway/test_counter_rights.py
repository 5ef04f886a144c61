"""End to end over gRPC (a real server on loopback, mTLS, SQLite): the household renewal and the
holder's data rights at the counter (issue 15)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bhytgate.audit.chain import GENESIS_HASH, document_key, verify_chain
from bhytgate.entitlement.model import Entitlement
from bhytgate.household.receipt import verify_receipt
from bhytgate.household.validity import period_end
from bhytgate_clients.cli.checkin import chip_photo_source
from bhytgate_clients.cli.counter import counter as counter_cli
from bhytgate_clients.sdk import Frame, GatewayError, VerificationResult

from .conftest import Deployment
from .test_e2e import OPERATOR, check, live_photos

# The closest other photo of the same person, by the chip photo's file (dlib distances measured on
# ../shared/faces: 0.33-0.42), so the holder's checks pass whatever photo the card lab put on the chip.
BEST_LIVE = {
    "bernadette1.png": "bernadette3.png",
    "bernadette2.png": "bernadette4.png",
    "bernadette3.png": "bernadette1.png",
    "bernadette4.png": "bernadette1.png",
    "bernadette5.png": "bernadette1.png",
    "leonard1.png": "leonard4.png",
    "leonard2.png": "leonard3.png",
    "leonard3.png": "leonard2.png",
    "leonard4.png": "leonard1.png",
    "leonard5.png": "leonard4.png",
}


def verified(d: Deployment, who: str) -> VerificationResult:
    """The holder's check at the counter, with their best-matching live photo."""
    card = d.card(who)
    source = chip_photo_source(card)
    assert source is not None
    photo = source.with_name(BEST_LIVE[source.name])
    result = check(d, card, terminal="counter-01", photos=[photo])
    assert result.checks["FACE_MATCH"] == "PASSED", result.reasons
    return result


def chain_ok_since(store: Any, first: int) -> bool:
    """The chain from record `first` to the head links and hashes (the session's deployment is
    shared: an earlier test may have tampered with an older record on purpose)."""
    prev = GENESIS_HASH if first == 0 else next(iter(store.iter_audit(first - 1))).hash
    entries = list(store.iter_audit(first))
    return bool(entries) and verify_chain(entries, start_seq=first, start_prev_hash=prev).ok


def _cccd(card: Path) -> str:
    return str(json.loads((card / "card.json").read_text(encoding="utf-8"))["citizen_id"])


def _gd_card(n: int, valid_to: dt.date) -> Entitlement:
    bhxh = f"79150000{n:02d}"
    return Entitlement(
        card_number=f"GD479{bhxh}",
        social_insurance_number=bhxh,
        cccd_number=f"0791500000{n:02d}",
        full_name=f"Thành viên {n}",
        date_of_birth="01/01/1980",
        sex="Nữ",
        address="1 Lê Lợi, TP Hồ Chí Minh",
        beneficiary_group="GD",
        benefit_code=4,
        province_code="79",
        registered_facility="79014",
        registered_facility_name="Bệnh viện Quận 1",
        issuing_office="BHXH Quận 1",
        valid_from=valid_to - dt.timedelta(days=364),
        valid_to=valid_to,
    )


def test_household_quote_renew_idempotent_and_signed(deployment: Deployment) -> None:
    d = deployment
    store = d.running.gateway.store
    start = store.audit_head()[0]
    today = dt.datetime.now(dt.UTC).date()
    valid, lapsed = _gd_card(1, today + dt.timedelta(days=20)), _gd_card(2, today - dt.timedelta(days=200))
    store.upsert_entitlements([valid, lapsed])
    members = [valid.cccd_number or "", lapsed.social_insurance_number]

    # the CLI's quote, with the JSON shape of the issue
    runner = CliRunner()
    out = runner.invoke(
        counter_cli,
        [
            "household-quote",
            "--home",
            str(d.home),
            "--terminal",
            "counter-01",
            "--member",
            members[0],
            "--member",
            members[1],
            "--months",
            "12",
            "--at",
            "2026-01-15",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {
        "members": [
            {"cccd": members[0], "order": 1, "monthly_vnd": 105_300, "amount_vnd": 1_263_600},
            {"bhxh": members[1], "order": 2, "monthly_vnd": 73_710, "amount_vnd": 884_520},
        ],
        "total_vnd": 2_148_120,
        "base_salary_vnd": 2_340_000,
        "months": 12,
    }

    payer = verified(d, "bernadette")
    with d.client("counter-01") as client:
        quote = client.household_quote(members, 12)
        assert [m.start_rule for m in quote.members] == [1, 3]  # continuous; waiting period
        first = client.renew_household(payer.verification_id, members, 12, "CASH-0001", OPERATOR)
        again = client.renew_household(payer.verification_id, members, 12, "CASH-0001", OPERATOR)
        assert not first.replayed and again.replayed and again.receipt == first.receipt
        with pytest.raises(GatewayError) as err:
            client.renew_household(payer.verification_id, members, 6, "CASH-0001", OPERATOR)
        assert err.value.code == "ALREADY_EXISTS"
        jwks = client.attestation_keys()
    assert chain_ok_since(store, start), "the chain does not verify across this test's records"
    receipt = verify_receipt(first.receipt, jwks)
    assert receipt.total_vnd == 2_148_120 == first.total_vnd
    assert valid.valid_to is not None
    extended = valid.valid_to + dt.timedelta(days=1)
    waited = today + dt.timedelta(days=30)
    assert [(m.valid_from, m.valid_to) for m in receipt.members] == [
        (extended, period_end(extended, 12)),
        (waited, period_end(waited, 12)),
    ]
    assert store.entitlement_by_card(valid.card_number).valid_to == receipt.members[0].valid_to  # type: ignore[union-attr]
    assert store.entitlement_by_card(lapsed.card_number).valid_from == today + dt.timedelta(days=30)  # type: ignore[union-attr]

    # two concurrent calls with one new reference: one renewal, the same receipt
    results: list[object] = [None, None]
    barrier = threading.Barrier(2)

    def call(i: int) -> None:
        with d.client("counter-01") as c:
            barrier.wait()
            results[i] = c.renew_household(payer.verification_id, members[:1], 3, "CASH-0002", OPERATOR)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    a, b = results
    assert a is not None and b is not None
    assert sorted([a.replayed, b.replayed]) == [False, True] and a.receipt == b.receipt  # type: ignore[attr-defined]
    renewed_to = store.entitlement_by_card(valid.card_number).valid_to  # type: ignore[union-attr]
    assert renewed_to == dt.date.fromisoformat(a.members[0].new_valid_to)  # type: ignore[attr-defined]
    assert a.members[0].new_valid_from == (receipt.members[0].valid_to + dt.timedelta(days=1)).isoformat()  # type: ignore[attr-defined]


def test_household_requests_are_validated(deployment: Deployment) -> None:
    with deployment.client("counter-01") as client:
        with pytest.raises(GatewayError) as err:
            client.household_quote(["079150000001"], 4)
        assert err.value.code == "INVALID_ARGUMENT" and [f for f, _ in err.value.violations] == ["months"]
        with pytest.raises(GatewayError) as err:
            client.household_quote(["079150000001", "079150000001"], 3)
        assert [f for f, _ in err.value.violations] == ["members"]
        with pytest.raises(GatewayError) as err:
            client.renew_household("0" * 32, ["079150000001"], 3, "CASH-X", OPERATOR)
        assert err.value.code == "NOT_FOUND"
    with deployment.client("desk-01") as desk, pytest.raises(GatewayError) as err:
        desk.household_quote(["079150000001"], 3)
    assert err.value.code == "PERMISSION_DENIED"


def _subject_records(d: Deployment, cccd: str) -> list[dict[str, object]]:
    key = document_key(d.running.gateway.audit_key, cccd)
    bodies = [json.loads(e.body) for e in d.running.gateway.store.iter_audit()]
    return [b for b in bodies if b["document"] == key]


def test_consent_export_deletion_and_withdrawal_end_to_end(deployment: Deployment) -> None:
    d = deployment
    card = d.card("leonard")
    cccd = _cccd(card)
    photos = live_photos(d, card)
    store = d.running.gateway.store
    start = store.audit_head()[0]
    with d.client("counter-01") as client:
        terms = client.consent_terms()
        assert terms.terms_version and "face_template" in terms.data_kept and terms.retention_days > 0
        holder = verified(d, "leonard")
        frames = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(photos[:3])]
        # another test (the 2024 QR) enrols this holder too: start from no template, no consent
        client.withdraw_consent(cccd, holder.verification_id, OPERATOR)
        # no consent, no template
        with pytest.raises(GatewayError) as err:
            client.enroll(holder.verification_id, frames, OPERATOR, consent_terms_version=None)
        assert err.value.code == "INVALID_ARGUMENT"
        assert [f for f, _ in err.value.violations] == ["consent.granted"]
        with pytest.raises(GatewayError) as err:
            client.enroll(holder.verification_id, frames, OPERATOR, consent_terms_version="1999-01")
        assert err.value.code == "FAILED_PRECONDITION"
        assert store.template_info(cccd) is None
        assert client.enroll(
            holder.verification_id, frames, OPERATOR, consent_terms_version=terms.terms_version
        )
        info = store.template_info(cccd)
        assert info is not None and info.consent_id is not None

        # someone else's verification cannot ask for this holder's data
        other = verified(d, "bernadette")
        with pytest.raises(GatewayError) as err:
            client.export_subject_data(cccd, other.verification_id, OPERATOR)
        assert err.value.code == "FAILED_PRECONDITION"

        exported = client.export_subject_data(cccd, holder.verification_id, OPERATOR)
        doc = json.loads(exported.export_json)
        assert doc["subject"]["cccd_number"] == cccd
        assert holder.verification_id in [r["verification_id"] for r in doc["decisions"]]
        assert {"verify", "enrol", "consent"} <= {str(r["action"]) for r in doc["decisions"]}
        assert doc["face_template"]["exists"] and doc["face_template"]["enrolled_at"]
        assert [c["active"] for c in doc["consents"]].count(True) == 1
        assert other.verification_id not in exported.export_json  # nobody else's decisions

        deleted = client.delete_face_template(cccd, holder.verification_id, OPERATOR)
        assert deleted.deleted and store.template_info(cccd) is None
        assert not client.delete_face_template(cccd, holder.verification_id, OPERATOR).deleted
        # enrol again under consent, then withdraw it: the template goes with it
        assert client.enroll(
            holder.verification_id, frames, OPERATOR, consent_terms_version=terms.terms_version
        )
        withdrawn = client.withdraw_consent(cccd, holder.verification_id, OPERATOR)
        assert withdrawn.consents_withdrawn == 2  # the first consent outlived its deleted template
        assert withdrawn.template_deleted and store.template_info(cccd) is None
        after = json.loads(client.export_subject_data(cccd, holder.verification_id, OPERATOR).export_json)
        assert after["face_template"] is None
        assert all(not c["active"] and c["withdrawn_at"] for c in after["consents"])
    # every export, deletion and withdrawal is itself audited, under the holder's pseudonym
    decisions = [(r["action"], r["decision"]) for r in _subject_records(d, cccd)]
    for expected in [
        ("subject_export", "EXPORTED"),
        ("subject_delete_template", "TEMPLATE_DELETED"),
        ("subject_delete_template", "NO_TEMPLATE"),
        ("subject_withdraw_consent", "CONSENT_WITHDRAWN"),
        ("consent", "CONSENT_GRANTED"),
    ]:
        assert expected in decisions, expected
    assert [a for a, dec in decisions].count("subject_export") == 2
    # the chain verifies across the deletions, and no record names the holder in clear
    assert chain_ok_since(store, start), "the chain does not verify across the deletions"
    bodies = "".join(e.body for e in store.iter_audit())
    assert cccd not in bodies


def test_retention_runs_in_the_gateway_and_keeps_the_chain(deployment: Deployment) -> None:
    """The server's own housekeeper object over the served database: a template enrolled without
    consent (as before this release) is deleted, an enrolled one with consent stays."""
    d = deployment
    gateway = d.running.gateway
    store = gateway.store
    start = store.audit_head()[0]
    orphan = "079150000077"
    store.put_face_template(orphan, b"t" * 64, "m", "1", dt.datetime.now(dt.UTC))
    kept = "079150000078"
    cid = store.record_consent(
        "k",
        "p",
        ["face_template"],
        "2026-01",
        dt.datetime.now(dt.UTC),
        dt.datetime.now(dt.UTC) + dt.timedelta(days=9),
        "counter-01",
    )
    store.put_face_template(kept, b"u" * 64, "m", "1", dt.datetime.now(dt.UTC), consent_id=cid)
    counts = gateway.housekeeper.run_once()
    assert counts["face_templates"] >= 1
    assert store.template_info(orphan) is None and store.template_info(kept) is not None
    assert [r["decision"] for r in _subject_records(d, orphan)] == ["TEMPLATE_DELETED"]
    assert chain_ok_since(store, start)
    store.delete_face_template(kept)


def test_the_counter_cli_renews_and_exports(deployment: Deployment) -> None:
    d = deployment
    store = d.running.gateway.store
    today = dt.datetime.now(dt.UTC).date()
    member = _gd_card(5, today + dt.timedelta(days=3))
    store.upsert_entitlements([member])
    card = d.card("bernadette")
    source = chip_photo_source(card)
    assert source is not None
    frame = str(source.with_name(BEST_LIVE[source.name]))
    common = ["--home", str(d.home), "--terminal", "counter-01"]
    runner = CliRunner()
    args = [
        "household-renew",
        *common,
        "--card",
        str(card),
        "--frame",
        frame,
        "--member",
        member.social_insurance_number,
    ]
    out = runner.invoke(counter_cli, [*args, "--months", "6", "--payment-ref", "CLI-0001", "--json"])
    assert out.exit_code == 0, out.output
    renewed = json.loads(out.output)
    assert renewed["total_vnd"] == 105_300 * 6 and renewed["replayed"] is False
    assert renewed["members"][0]["start_rule"] == "continuous"
    assert renewed["members"][0]["new_valid_from"] == (today + dt.timedelta(days=4)).isoformat()
    again = runner.invoke(counter_cli, [*args, "--months", "6", "--payment-ref", "CLI-0001", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["receipt"] == renewed["receipt"]
    conflict = runner.invoke(counter_cli, [*args, "--months", "3", "--payment-ref", "CLI-0001", "--json"])
    assert conflict.exit_code == 2 and "ALREADY_EXISTS" in conflict.output
    terms = runner.invoke(counter_cli, ["consent-terms", *common])
    assert terms.exit_code == 0 and json.loads(terms.output)["terms_version"]
    cccd = _cccd(card)
    export = runner.invoke(
        counter_cli, ["export", *common, "--cccd", cccd, "--card", str(card), "--frame", frame]
    )
    assert export.exit_code == 0, export.output
    doc = json.loads(export.output)
    assert doc["subject"]["cccd_number"] == cccd
    assert "household_renew" in {r["action"] for r in doc["decisions"]}  # the payer's renewals
    no_consent = runner.invoke(counter_cli, ["enroll", *common, "--card", str(card), "--frame", frame])
    assert no_consent.exit_code == 2 and "--consent" in no_consent.output


def test_a_payment_reference_is_the_facilitys_own(deployment: Deployment, tmp_path: Path) -> None:
    """Attack run 2026-12-03: references were global, so another facility's counter sending 01001's
    "CASH-0001" with the same members got 01001's signed receipt back, and with other members was
    told the reference exists. Each facility's references are its own."""
    from bhytgate.pki.devca import TerminalIdentity, add_terminal

    from .fresh import fresh_card

    d = deployment
    store = d.running.gateway.store
    today = dt.datetime.now(dt.UTC).date()
    member = _gd_card(6, today + dt.timedelta(days=3))
    store.upsert_entitlements([member])
    if not (d.home / "pki" / "terminals" / "counter-79014.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity("counter-79014", "79014", "counter", "desk"))  # type: ignore[arg-type]
    source = chip_photo_source(d.card("bernadette"))
    assert source is not None
    frame = str(source.with_name(BEST_LIVE[source.name]))
    runner = CliRunner()
    reference = f"CASH-{secrets.token_hex(4)}"  # each facility numbers its own: both use this one
    receipts = []
    for terminal, seed in (("counter-01", "ref-01001"), ("counter-79014", "ref-79014")):
        payer, _ = fresh_card(d, tmp_path / seed, seed, face="bernadette")  # a payer of each facility
        args = ["household-renew", "--home", str(d.home), "--terminal", terminal, "--card", str(payer)]
        args += ["--frame", frame, "--member", member.social_insurance_number, "--months", "3"]
        out = runner.invoke(counter_cli, [*args, "--payment-ref", reference, "--json"])
        assert out.exit_code == 0, out.output
        receipts.append(json.loads(out.output))
    mine, theirs = receipts
    assert mine["replayed"] is False and theirs["replayed"] is False  # not 01001's receipt
    assert verify_receipt(theirs["receipt"], d.running.gateway.admin.jwks()).facility == "79014"

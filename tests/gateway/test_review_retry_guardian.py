"""End to end over the real gRPC server: the review queue, RETRY instead of reject, and a child's
photo-less card vouched for by a verified guardian."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bhytgate.attestation import AttestationStatus, verify_attestation
from bhytgate.audit.chain import entry_hash
from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_clients.cardlab import card as cardlab
from bhytgate_clients.cardlab import citizens
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cardlab.pki import load_pki
from bhytgate_clients.cli.checkin import read_chip_files
from bhytgate_clients.sdk import Frame, GatewayError

from .conftest import Deployment
from .test_e2e import OPERATOR, check, live_photos


def _terminal(d: Deployment, name: str, facility: str, role: str) -> str:
    if not (d.home / "pki" / "terminals" / f"{name}.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity(name, facility, role, "desk"))  # type: ignore[arg-type]
    return name


def _photo(d: Deployment, card: Path, name: str) -> list[Path]:
    """One live photo known to match at the threshold (the demo's FNMR is 18%: no random pick)."""
    return [p for p in live_photos(d, card) if p.name == name]


def _audit_bodies(d: Deployment, verification_id: str) -> list[dict[str, object]]:
    db = sqlite3.connect(d.home / "gateway.db")
    rows = [json.loads(r[0]) for r in db.execute("SELECT body FROM audit_log ORDER BY seq")]
    db.close()
    return [r for r in rows if r["verification_id"] == verification_id]


# --- the review queue ---------------------------------------------------------------------------


def test_a_velocity_review_resolved_as_accepted_releases_an_attestation(deployment: Deployment) -> None:
    d = deployment
    card = d.card("kit-harington")
    photos = _photo(d, card, "johnsnow_test1.jpg")
    reviewer = _terminal(d, "reviewer-79014", "79014", "reviewer")
    province = _terminal(d, "reviewer-79000", "79000", "reviewer")
    elsewhere = _terminal(d, "reviewer-01001", "01001", "reviewer")
    first = check(d, card, terminal="desk-01", photos=photos)
    assert first.decision == "ACCEPTED", first.reasons
    second = check(d, card, terminal="desk-02", photos=photos)  # facility 79014, within 6 h
    assert second.decision == "REVIEW" and second.reason_codes == ["FRAUD_VELOCITY"]
    assert second.review_expire_time is not None and second.entitlement is None
    vid = second.verification_id

    with d.client(reviewer) as rv:
        cases = {c.verification_id: c for c in rv.list_review_cases()}
        case = cases[vid]
        assert case.state == pb.REVIEW_STATE_OPEN and case.facility_code == "79014"
        assert [r.code for r in case.reasons] == [pb.REASON_CODE_FRAUD_VELOCITY]
        velocity = next(f for f in case.fraud_history if f.name == "facilities_in_window")
        assert velocity.count == 2 and "01001" in velocity.detail and len(velocity.subject) == 64
        meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
        assert meta["citizen_id"] not in str(case) and meta["full_name"] not in str(case)
    with d.client(province) as rv:  # a provincial office sees the province's cases
        assert vid in {c.verification_id for c in rv.list_review_cases()}
    with d.client(elsewhere) as rv:  # another facility sees nothing of it
        assert vid not in {c.verification_id for c in rv.list_review_cases()}
        with pytest.raises(GatewayError) as err:
            rv.resolve_review_case(vid, accept=True, reason="not mine")
        assert err.value.code == "NOT_FOUND"
    with d.client("desk-02") as desk:  # the waiting terminal polls; a desk cannot resolve
        assert desk.get_review_case(vid).review_case.state == pb.REVIEW_STATE_OPEN
        assert not desk.get_review_case(vid).attestation
        with pytest.raises(GatewayError) as err:
            desk.resolve_review_case(vid, accept=True, reason="me")
        assert err.value.code == "PERMISSION_DENIED"
    with d.client(reviewer) as rv:
        with pytest.raises(GatewayError) as err:
            rv.resolve_review_case(vid, accept=True, reason="")
        assert err.value.code == "INVALID_ARGUMENT"
        resolved = rv.resolve_review_case(vid, accept=True, reason="referred by 01001 the same morning")
        assert resolved.review_case.state == pb.REVIEW_STATE_ACCEPTED
        assert resolved.review_case.reviewer == reviewer
        with pytest.raises(GatewayError) as err:
            rv.resolve_review_case(vid, accept=False, reason="twice")
        assert err.value.code == "FAILED_PRECONDITION"
        jwks = rv.attestation_keys()
    expected = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    assert resolved.entitlement.ma_the == expected["card_number"]
    verdict = verify_attestation(resolved.attestation, jwks, dt.datetime.now(dt.UTC))
    assert verdict.status is AttestationStatus.OK and verdict.claims is not None
    assert verdict.claims.verification_id == vid and verdict.claims.reviewer == reviewer
    assert verdict.claims.terminal_id == "desk-02" and verdict.claims.facility == "79014"
    with d.client("desk-02") as desk:
        waited = desk.wait_for_review(vid, timeout_s=5)
        assert waited.review_case.state == pb.REVIEW_STATE_ACCEPTED
        assert (
            waited.attestation == resolved.attestation
            and waited.entitlement.ma_the == expected["card_number"]
        )
    records = _audit_bodies(d, vid)
    assert [(r["action"], r["decision"]) for r in records] == [
        ("verify", "REVIEW"),
        ("review_resolved", "ACCEPTED"),
    ]
    assert records[1]["terminal"] == reviewer and records[0]["document"] == records[1]["document"]
    # the resolution is a link of the same chain (another test tampers with an early record of this
    # shared log, so the whole chain is not re-verified here)
    db = sqlite3.connect(d.home / "gateway.db")
    seq, prev, digest, body = db.execute(
        "SELECT seq, prev_hash, hash, body FROM audit_log WHERE record_id = ?", (f"review-{vid}",)
    ).fetchone()
    before = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq - 1,)).fetchone()[0]
    db.close()
    assert entry_hash(prev, body) == digest and prev == before
    # an accepted case is a verified arrival: its QĐ 4750 record, bound to the reviewer's
    # attestation, at the check's own facility and time
    with d.client("desk-02") as desk:
        got = desk.verification.GetCheckinRecord(pb.GetCheckinRecordRequest(verification_id=vid), timeout=30)
    xml = got.checkin_record.xml.decode("utf-8")
    assert f"vid={vid}" in xml and "<MA_CSKCB>79014</MA_CSKCB>" in xml
    assert f"<MA_THE_BHYT>{expected['card_number']}</MA_THE_BHYT>" in xml


def test_a_review_case_expires_and_says_so(deployment: Deployment) -> None:
    d = deployment
    card = d.card("rose-leslie")
    photos = _photo(d, card, "img2.jpg")
    check(d, card, terminal="desk-01", photos=photos)  # ACCEPTED, or REVIEW after the velocity test
    result = check(d, card, terminal="desk-02", photos=photos)
    assert result.decision == "REVIEW", result.reasons
    reviewer = _terminal(d, "reviewer-79014", "79014", "reviewer")
    d.shift_clock(d.running.gateway.config.review_ttl + dt.timedelta(seconds=1))
    try:
        with d.client(reviewer) as rv:
            assert result.verification_id not in {c.verification_id for c in rv.list_review_cases()}
            with pytest.raises(GatewayError) as err:
                rv.resolve_review_case(result.verification_id, accept=True, reason="too late")
            assert err.value.code == "FAILED_PRECONDITION" and "expired" in err.value.message
        assert d.running.gateway.reviews.sweep_expired() >= 1
        with d.client("desk-02") as desk:
            assert desk.get_review_case(result.verification_id).review_case.state == pb.REVIEW_STATE_EXPIRED
    finally:
        d.shift_clock(dt.timedelta(0))
    actions = [(r["action"], r["decision"]) for r in _audit_bodies(d, result.verification_id)]
    assert actions == [("verify", "REVIEW"), ("review_expired", "REJECTED")]


def test_review_cli_lists_and_resolves(deployment: Deployment) -> None:
    from click.testing import CliRunner

    from bhytgate_clients.cli import main

    d = deployment
    card = d.card("stuart")
    photos = _photo(d, card, "stuart2.png")
    check(d, card, terminal="desk-01", photos=photos)
    result = check(d, card, terminal="desk-02", photos=photos)
    assert result.decision == "REVIEW", result.reasons
    reviewer = _terminal(d, "reviewer-79014", "79014", "reviewer")
    runner = CliRunner()
    base = ["--home", str(d.home), "--terminal", reviewer]
    listed = runner.invoke(main, ["review", "list", "--json", *base])
    assert listed.exit_code == 0, listed.output
    ids = [c["verification_id"] for c in json.loads(listed.output)["cases"]]
    assert result.verification_id in ids
    resolved = runner.invoke(
        main,
        [
            "review",
            "resolve",
            result.verification_id,
            "--reject",
            "--reason",
            "papers missing",
            "--json",
            *base,
        ],
    )
    assert resolved.exit_code == 0, resolved.output
    out = json.loads(resolved.output)
    assert out["state"] == "REJECTED" and out["attestation"] is None and out["reviewer"] == reviewer
    refused = runner.invoke(main, ["review", "resolve", result.verification_id, "--reason", "x", *base])
    assert refused.exit_code != 0


# --- RETRY instead of reject --------------------------------------------------------------------


def _verify_with_answer(d: Deployment, card: Path, terminal: str, mangle: object) -> object:
    from bhytgate_clients.cardlab import SimulatedChip

    with d.client(terminal) as client:
        challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
        answer = SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge)
        frames = SimulatedCamera(live_photos(d, card)).single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        return client.verify(
            challenge,
            chip_files=read_chip_files(card),
            aa_signatures=[mangle(s) for s in answer],  # type: ignore[operator]
            frames=frames,
            operator=OPERATOR,
        )


def test_unreadable_answers_are_retries_that_feed_no_fraud_rule(deployment: Deployment) -> None:
    """Three (and more: enough to flag a terminal) unreadable AA answers, then the genuine check-in
    is ACCEPTED; a full-length wrong signature is still a forgery."""
    d = deployment
    card = d.card("leonard")
    terminal = _terminal(d, "retry-desk", "01001", "hospital-checkin")
    for _ in range(11):  # beyond terminal_min_rejections (10): a REJECTED each time would flag it
        result = _verify_with_answer(d, card, terminal, lambda s: s[: len(s) // 2])
        assert result.decision == "RETRY" and result.reason_codes == ["AA_UNREADABLE"], result.reasons  # type: ignore[attr-defined]
        assert result.retry_hint == "HOLD_CARD_STILL" and result.retry_message  # type: ignore[attr-defined]
        assert result.entitlement is None and result.attestation is None  # type: ignore[attr-defined]
    missing = check(d, card, terminal=terminal, aa=False)
    assert missing.decision == "RETRY" and missing.reason_codes == ["AA_MISSING"]
    genuine = check(d, card, terminal=terminal, photos=_photo(d, card, "leonard2.png"))
    assert genuine.decision == "ACCEPTED", genuine.reasons
    forged = _verify_with_answer(d, card, terminal, lambda s: bytes(reversed(s)))
    assert forged.decision == "REJECTED" and forged.reason_codes == ["CHIP_NOT_GENUINE"]  # type: ignore[attr-defined]


def test_a_capture_without_a_face_is_a_retry_not_a_mismatch(deployment: Deployment) -> None:
    d = deployment
    card = d.card("leonard")
    terminal = _terminal(d, "retry-desk-2", "01001", "hospital-checkin")
    for i in range(3):
        blank = io.BytesIO()
        Image.new("RGB", (640, 480), (90 + 40 * i, 120, 160)).save(blank, format="JPEG")
        with d.client(terminal) as client:
            challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
            from bhytgate_clients.cardlab import SimulatedChip

            result = client.verify(
                challenge,
                chip_files=read_chip_files(card),
                aa_signatures=SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge),
                frames=[Frame(blank.getvalue(), int(dt.datetime.now(dt.UTC).timestamp() * 1000))],
                operator=OPERATOR,
            )
        assert result.decision == "RETRY" and result.reason_codes == ["NO_FACE"], result.reasons
        assert result.retry_hint == "FACE_THE_CAMERA"
    genuine = check(d, card, terminal=terminal, photos=_photo(d, card, "leonard4.png"))
    assert genuine.decision == "ACCEPTED", genuine.reasons


# --- a child without a photo, vouched for by a guardian ---------------------------------------------


def _child_card(d: Deployment, out: Path, *, with_photo: bool = False) -> tuple[Path, dict[str, object]]:
    pki = load_pki(d.dev.demo / "pki")
    base = citizens.make_citizen("guardian-test-child", sex="M")
    today = dt.date.today()
    born = today.replace(year=today.year - 3)
    issued = today - dt.timedelta(days=200)
    child = dataclasses.replace(
        base,
        date_of_birth=born,
        issue_date=issued,
        expiry_date=citizens.card_expiry(born, issued),
        cccd=citizens.cccd_number(base.province, "M", born, "770011"),
    )
    photo = live_photos(d, d.card("obama"))[0]
    dump = cardlab.issue_card(pki, child, photo, cardlab.IssueOptions(), seed="guardian-test-child")
    if not with_photo:  # an under-6 card: EF.SOD lists no DG2
        groups = {n: raw for n, raw in dump.data_groups.items() if n != 2}
        dump.files.pop("DG2")
        dump.files[cardlab.SOD_FILE] = cardlab.sign_card(groups, pki.signer("rsa"), dump.meta)
    dump.write(out)
    return out, dump.entitlement


def test_a_childs_photo_less_card_with_a_verified_guardian_gets_its_entitlement(
    deployment: Deployment, tmp_path: Path
) -> None:
    from bhytgate_clients.cardlab import SimulatedChip

    d = deployment
    child_card, entitlement = _child_card(d, tmp_path / "child")
    terminal = _terminal(d, "family-desk", "01001", "hospital-checkin")
    with d.client("bhxh-admin-01") as admin:
        assert admin.import_entitlements(json.dumps(entitlement).encode(), "jsonl").imported_count == 1
    adult = d.card("bernadette")
    guardian = check(d, adult, terminal=terminal, photos=_photo(d, adult, "bernadette3.png"))
    assert guardian.decision == "ACCEPTED", guardian.reasons

    def child_check(desk: str, guardian_id: str, card: Path = child_card) -> object:
        with d.client(desk) as client:
            challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
            return client.verify(
                challenge,
                chip_files=read_chip_files(card),
                aa_signatures=SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge),
                frames=[],
                operator=OPERATOR,
                guardian_verification_id=guardian_id,
            )

    result = child_check(terminal, guardian.verification_id)
    assert result.decision == "ACCEPTED", result.reasons  # type: ignore[attr-defined]
    assert result.assurance_level == "GUARDIAN_VERIFIED"  # type: ignore[attr-defined]
    assert result.entitlement["ma_the"] == entitlement["card_number"]  # type: ignore[attr-defined,index]
    with d.client(terminal) as client:
        jwks = client.attestation_keys()
    verdict = verify_attestation(result.attestation, jwks, dt.datetime.now(dt.UTC))  # type: ignore[attr-defined]
    assert verdict.status is AttestationStatus.OK and verdict.claims is not None
    assert verdict.claims.guardian == guardian.verification_id
    assert verdict.claims.assurance_level == "guardian_verified"

    # the same guardian at another terminal, a child's check vouching for another, a card with a photo
    other = child_check("clean-desk", guardian.verification_id)
    assert other.decision == "REJECTED" and other.reason_codes == ["GUARDIAN_NOT_VERIFIED"]  # type: ignore[attr-defined]
    chained = child_check(terminal, result.verification_id)  # type: ignore[attr-defined]
    assert chained.decision == "REJECTED" and "GUARDIAN_NOT_VERIFIED" in chained.reason_codes  # type: ignore[attr-defined]
    grown = child_check(terminal, guardian.verification_id, d.card("raj"))
    assert grown.decision == "REJECTED" and "GUARDIAN_NOT_APPLICABLE" in grown.reason_codes  # type: ignore[attr-defined]
    # a photo that EF.SOD lists cannot be withheld to take the guardian path
    with_photo, _ = _child_card(d, tmp_path / "child-photo", with_photo=True)
    files = read_chip_files(with_photo)
    files.pop("DG2")
    with d.client(terminal) as client:
        challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
        withheld = client.verify(
            challenge,
            chip_files=files,
            aa_signatures=SimulatedChip.from_dump(with_photo).answer_challenge(challenge.aa_challenge),
            frames=[],
            operator=OPERATOR,
            guardian_verification_id=guardian.verification_id,
        )
    assert withheld.decision == "REJECTED" and withheld.reason_codes == ["DATA_GROUP_NOT_IN_SOD"]
    # without a guardian the photo-less card is refused as before
    with d.client(terminal) as client, pytest.raises(GatewayError) as err:
        challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
        client.verify(challenge, chip_files=read_chip_files(child_card), frames=[], operator=OPERATOR)
    assert err.value.code == "INVALID_ARGUMENT"


def _newborn(d: Deployment, seed: str, *, days_old: int, sex: str = "F") -> tuple[dict[str, Any], str]:
    """A child of `days_old` days with a BHYT card and no identity document, imported by the fund:
    (its entitlement record, its BHYT QR text)."""
    from bhytgate.entitlement.cardnumber import parse_card_number
    from bhytgate.entitlement.qr import BhytQr, format_bhyt_qr

    child = citizens.make_citizen(seed, sex=sex)
    child = dataclasses.replace(child, date_of_birth=dt.date.today() - dt.timedelta(days=days_old))
    record = citizens.entitlement_json(citizens.entitlement_for(child, seed))
    record["cccd_number"] = None  # no identity document yet
    with d.client("bhxh-admin-01") as admin:
        imported = admin.import_entitlements(json.dumps(record).encode(), "jsonl")
        assert imported.imported_count == 1, list(imported.errors)
    qr = format_bhyt_qr(
        BhytQr(
            card_number=parse_card_number(str(record["card_number"])),
            full_name=str(record["full_name"]),
            date_of_birth=str(record["date_of_birth"]),
            sex=str(record["sex"]),
            address=str(record["address"]),
            registered_facility=str(record["registered_facility"]),
            valid_from=dt.date.fromisoformat(str(record["valid_from"])),
            valid_to=None,
            issue_date=None,
            management_code="ABC",
            parent_name="Nguyễn Văn Bố",
            area_code=None,
            five_year_date=None,
            check_string="0123",
        )
    )
    return record, qr


def test_a_newborn_with_only_a_bhyt_number_is_checked_in_by_its_guardian(deployment: Deployment) -> None:
    d = deployment
    record, qr = _newborn(d, "guardian-test-newborn", days_old=40)
    terminal = _terminal(d, "maternity-desk", "01001", "hospital-checkin")
    adult = d.card("bernadette")
    guardian = check(d, adult, terminal=terminal, photos=_photo(d, adult, "bernadette4.png"))
    assert guardian.decision == "ACCEPTED", guardian.reasons
    with d.client(terminal) as client:
        challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
        result = client.verify(
            challenge,
            qr=("bhyt", qr),
            frames=[],
            operator=OPERATOR,
            guardian_verification_id=guardian.verification_id,
        )
        assert result.decision == "ACCEPTED", result.reasons
        assert result.assurance_level == "GUARDIAN_VERIFIED"
        assert result.entitlement is not None and result.entitlement["ma_the"] == record["card_number"]
        # without the guardian the QR proves nothing: no template, no check-in
        challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
        frames = SimulatedCamera(live_photos(d, adult)).single(
            int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        )
        alone = client.verify(challenge, qr=("bhyt", qr), frames=frames, operator=OPERATOR)
    assert alone.decision == "REJECTED" and alone.reason_codes == ["QR_UNUSABLE"], alone.reasons


def test_one_guardian_verification_vouches_for_a_bounded_number_of_children(deployment: Deployment) -> None:
    """Attack run 2026-12-03: one accepted adult check-in vouched for any number of under-6
    children shown only as BHYT QR text (all of it printed on the card)."""
    d = deployment
    cap = d.running.gateway.config.guardian_max_children
    qrs = [_newborn(d, f"guardian-cap-{n}", days_old=100 + n, sex="M")[1] for n in range(cap + 1)]
    terminal = _terminal(d, "cap-desk", "01001", "hospital-checkin")
    adult = d.card("bernadette")
    guardian = check(d, adult, terminal=terminal, photos=_photo(d, adult, "bernadette4.png"))
    assert guardian.decision == "ACCEPTED", guardian.reasons
    decisions = []
    with d.client(terminal) as client:
        for qr in qrs:
            challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
            decisions.append(
                client.verify(
                    challenge,
                    qr=("bhyt", qr),
                    frames=[],
                    operator=OPERATOR,
                    guardian_verification_id=guardian.verification_id,
                )
            )
    assert [r.decision for r in decisions[:cap]] == ["ACCEPTED"] * cap
    last = decisions[-1]
    assert last.decision == "REJECTED" and last.reason_codes == ["GUARDIAN_NOT_APPLICABLE"], last.reasons
    assert f"has vouched for {cap} children already" in last.reasons[0][1]

"""A QR proves nothing, so a rejected QR attempt must not lock or move the holder's chip path
(attack run, 2026-12-03: three QRs printed with a real CCCD number and the attacker's own face, at
another facility, locked the holder's biometric check-in everywhere for 24 h and put that facility
in the holder's velocity window). Rejected QR attempts lock the QR path of that document only."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.sdk import Frame

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import OPERATOR, check, live_photos


def test_forged_qrs_lock_the_qr_path_only(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    card, photos = fresh_card(d, tmp_path / "card", "qr-lock-1", face="sheldon")
    cccd = json.loads((card / "card.json").read_text(encoding="utf-8"))["citizen_id"]
    with d.client("counter-01") as counter:
        seen = check(d, card, photos=photos, terminal="counter-01")
        assert seen.decision == "ACCEPTED", seen.reasons
        frames = [Frame(p.read_bytes(), i + 1) for i, p in enumerate(photos[:3])]
        terms = counter.consent_terms().terms_version
        assert counter.enroll(seen.verification_id, frames, OPERATOR, consent_terms_version=terms)

    forged = f"{cccd}||Kẻ Giả Mạo|01011990|Nam||01012021"
    attacker = SimulatedCamera(live_photos(d, d.card("obama")))
    threshold = d.running.gateway.config.policy.mismatch_lock_threshold
    with d.client("desk-02") as desk:  # another facility (79014)
        answers = []
        for _ in range(threshold + 1):
            challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
            shot = attacker.single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
            answers.append(desk.verify(challenge, qr=("cccd", forged), frames=shot, operator=OPERATOR))
    assert all(a.decision == "REJECTED" for a in answers)
    assert all("TEMPLATE_MISMATCH" in a.reason_codes for a in answers[:threshold]), answers
    assert answers[-1].reason_codes == ["FRAUD_BIOMETRIC_LOCKED"]  # the QR path is locked

    # The holder, with the card and their own face, at their own hospital: neither locked nor sent
    # to REVIEW for the attacker's facility.
    genuine = check(d, card, photos=photos, terminal="clean-desk")
    assert genuine.decision == "ACCEPTED", genuine.reasons

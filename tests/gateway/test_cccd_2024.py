"""End to end over gRPC (real server, mTLS): the 2024 Căn cước card and real-world signer names.

- a 2024-style DG13 (only the ICAO-encoded fields readable, the rest opaque ciphertext) is accepted
  when PA, AA and the face pass; also with the number unreadable in DG13 (taken from DG1) and
  with DG13 wholly encrypted;
- a chip without a DG2 face (children under 6) is the distinct outcome NO_CHIP_PORTRAIT after PA
  and AA passed, never POOR_FACE_QUALITY;
- a SOD whose SignerInfo names the issuer with its RDNs reordered is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bhytgate_clients.cardlab import load_pki
from bhytgate_clients.cardlab import variants as v
from bhytgate_clients.cardlab.card import CardDump

from .conftest import Deployment
from .test_e2e import check


def _variant(d: Deployment, identity: str, make: Callable[[CardDump], CardDump], where: Path) -> Path:
    genuine = d.card(identity)
    card = make(CardDump.load(genuine))
    return card.write(where / genuine.name)


@pytest.fixture(scope="module")
def pki(deployment: Deployment):  # type: ignore[no-untyped-def]
    return load_pki(deployment.dev.demo / "pki")


@pytest.mark.parametrize(
    ("identity", "variant"),
    [("obama", "dg13_2024"), ("howard", "dg13_2024_no_id"), ("sheldon", "dg13_unreadable")],
)
def test_2024_card_with_encrypted_dg13_is_accepted(
    deployment: Deployment, pki: object, tmp_path: Path, identity: str, variant: str
) -> None:
    makers: dict[str, Callable[[CardDump], CardDump]] = {
        "dg13_2024": lambda c: v.dg13_2024(c, pki),  # type: ignore[arg-type]
        "dg13_2024_no_id": lambda c: v.dg13_2024(c, pki, readable_id=False),  # type: ignore[arg-type]
        "dg13_unreadable": lambda c: v.dg13_unreadable(c, pki),  # type: ignore[arg-type]
    }
    card = _variant(deployment, identity, makers[variant], tmp_path)
    result = check(deployment, card)
    assert result.decision == "ACCEPTED", result.reasons
    assert result.checks["PASSIVE_AUTH"] == "PASSED" and result.checks["ACTIVE_AUTH"] == "PASSED"
    assert result.entitlement is not None and result.entitlement["ma_ket_qua"] == "000"


def test_chip_without_face_needs_a_guardian(deployment: Deployment, pki: object, tmp_path: Path) -> None:
    card = _variant(deployment, "kit-harington", lambda c: v.without_face(c, pki), tmp_path)  # type: ignore[arg-type]
    assert not (card / "DG2").exists()
    result = check(deployment, card, terminal="lab-desk")
    assert result.decision == "REJECTED"
    assert result.reason_codes == ["NO_CHIP_PORTRAIT"], result.reasons
    assert "guardian" in result.reasons[0][1]
    assert result.checks["PASSIVE_AUTH"] == "PASSED" and result.checks["ACTIVE_AUTH"] == "PASSED"
    assert result.entitlement is None and result.attestation is None


def test_chip_without_face_still_fails_on_a_cloned_chip(
    deployment: Deployment, pki: object, tmp_path: Path
) -> None:
    """PA/AA still run: a copy of an under-6 card's data on another chip is not genuine."""
    from bhytgate_clients.cardlab import ATTACKS, AttackContext

    card = _variant(
        deployment,
        "kit-harington",
        lambda c: ATTACKS["cloned_chip"](v.without_face(c, pki), AttackContext(pki)),  # type: ignore[arg-type]
        tmp_path,
    )
    result = check(deployment, card, terminal="lab-desk")
    assert result.decision == "REJECTED"
    assert result.reason_codes == ["CHIP_NOT_GENUINE"], result.reasons


def test_dg2_listed_but_not_sent_is_not_a_missing_portrait(deployment: Deployment, tmp_path: Path) -> None:
    """A terminal that drops DG2 of an ordinary card does not turn it into an under-6 card."""
    card = _variant(deployment, "alex-lacamoire", lambda c: c, tmp_path)
    (card / "DG2").unlink()
    result = check(deployment, card, terminal="lab-desk")
    assert result.decision == "REJECTED"
    assert result.reason_codes == ["DATA_GROUP_NOT_IN_SOD"], result.reasons


def test_signer_info_with_reordered_issuer_rdns_is_accepted(
    deployment: Deployment, pki: object, tmp_path: Path
) -> None:
    card = _variant(deployment, "obama", lambda c: v.issuer_rdns_reordered(c, pki), tmp_path)  # type: ignore[arg-type]
    result = check(deployment, card)
    assert result.decision == "ACCEPTED", result.reasons


def test_2024_qr_selects_the_enrolled_holder(deployment: Deployment) -> None:
    """The 2024 card's QR (earlier numbers, expiry, relatives' fields) works like the old one: a
    lookup key for the enrolled template, at the QR's assurance level, never more."""
    import datetime as dt
    import json

    from bhytgate_clients.cardlab.camera import SimulatedCamera
    from bhytgate_clients.sdk import Frame

    from .test_e2e import OPERATOR, live_photos

    # an identity no other test uses: its enrolled template must not change their outcomes
    card = deployment.card("leonard")
    meta = json.loads((card / "card.json").read_text(encoding="utf-8"))
    photos = live_photos(deployment, card)
    with deployment.client("counter-01") as counter:
        verification = check(deployment, card, terminal="counter-01")
        assert verification.decision in ("ACCEPTED", "REVIEW"), verification.reasons
        assert counter.enroll(
            verification.verification_id,
            [Frame(p.read_bytes(), i + 1) for i, p in enumerate(photos[:3])],
            OPERATOR,
            consent_terms_version=counter.consent_terms().terms_version,
        )
    holder = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    born = holder["date_of_birth"].replace("/", "")
    qr = (
        f"{meta['citizen_id']}|123456789,001090123456|{meta['full_name']}|{born}|{holder['sex']}"
        "|Hà Nội|15072024|15072039|Nguyễn Văn Cha|001060000001"
    )
    with deployment.client("qr-desk") as desk:
        challenge = desk.begin(terminal_kind="desk", operator=OPERATOR)
        frames = SimulatedCamera(photos).single(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        result = desk.verify(challenge, qr=("cccd", qr), frames=frames, operator=OPERATOR)
    assert result.decision in ("ACCEPTED", "REVIEW"), result.reasons
    assert result.assurance_level == "QR_ENROLLED_FACE"


def test_pkd_ldif_through_the_admin_cli(deployment: Deployment, pki: object, tmp_path: Path) -> None:
    """`bhytgate admin trust --ldif`: the PKD's DSCs let a SOD without its certificate verify; a
    master list the gateway cannot verify (another country's) is reported, not fatal."""
    import datetime as dt
    import json

    from click.testing import CliRunner

    from bhytgate.chip.trust.ldif import write_pkd_ldif
    from bhytgate_clients.cardlab import create_pki
    from bhytgate_clients.cli import main

    lab = pki  # the demo's card-lab PKI
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signer = v.master_list_signer(lab, now - dt.timedelta(days=1), now + dt.timedelta(days=30))  # type: ignore[arg-type]
    ours = v.master_list(signer, [lab.csca["csca-2"].cert], now)  # type: ignore[attr-defined]
    stranger = create_pki()
    foreign_signer = v.master_list_signer(stranger, now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    foreign = v.master_list(foreign_signer, [stranger.csca["csca-1"].cert], now)
    dscs = (lab.signer("ec").der, lab.signer("rsa").der)  # type: ignore[attr-defined]
    ldif = tmp_path / "icaopkd.ldif"
    ldif.write_bytes(write_pkd_ldif((ours, foreign), dscs))
    card = _variant(deployment, "obama", lambda c: v.without_ds_certificate(c, lab), tmp_path)  # type: ignore[arg-type]
    before = check(deployment, card, terminal="lab-desk")
    assert before.reason_codes == ["CHIP_SIGNATURE_INVALID"], before.reasons  # no signer known yet
    result = CliRunner().invoke(
        main,
        [
            "admin",
            "trust",
            "--home",
            str(deployment.home),
            "--address",
            deployment.running.address,
            "--ldif",
            str(ldif),
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["refused"] == {"master_list": 1}
    assert out["document_signers_added"] >= 1
    after = check(deployment, card)
    assert after.decision == "ACCEPTED", after.reasons

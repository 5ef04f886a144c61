"""Who may write the fund's card data, over the wire: a hospital's admin may not import (dry run
included), a provincial office only its own province's cards, the fund every province's; and only
a BHXH office records a holder's death, a provincial office its own province's holders'."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate_clients.sdk import GatewayError

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import OPERATOR, check


def _record(deployment: Deployment, province: str, serial: str) -> dict[str, Any]:
    base = json.loads((deployment.card("obama") / "entitlement.json").read_text(encoding="utf-8"))
    return {
        **base,
        "card_number": f"DN4{province}{serial}",
        "social_insurance_number": serial,
        "beneficiary_group": "DN",
        "benefit_code": 4,
        "province_code": province,
        "cccd_number": None,
    }


def _jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_hospital_admin_may_not_import_cards(deployment: Deployment, dry_run: bool) -> None:
    content = _jsonl(_record(deployment, "01", "0123400001"))
    with deployment.client("admin-01") as admin, pytest.raises(GatewayError) as err:
        admin.import_entitlements(content, "jsonl", dry_run=dry_run)
    assert err.value.code == "PERMISSION_DENIED"
    assert "facility 01001 may not import entitlements" in err.value.message
    assert deployment.running.gateway.store.entitlement_by_card("DN4010123400001") is None


def test_a_provincial_office_imports_its_own_province_only(deployment: Deployment) -> None:
    own, other = _record(deployment, "01", "0123400002"), _record(deployment, "79", "0123400003")
    with deployment.client("hn-admin-01") as office:
        mixed = office.import_entitlements(_jsonl(own, other), "jsonl")
        assert mixed.imported_count == 0
        assert [(e.row, e.field) for e in mixed.errors] == [(2, "province_code")]
        assert "not 01" in mixed.errors[0].message
        assert deployment.running.gateway.store.entitlement_by_card(own["card_number"]) is None
        alone = office.import_entitlements(_jsonl(own), "jsonl")
        assert alone.imported_count == 1 and not alone.errors
    assert deployment.running.gateway.store.entitlement_by_card(own["card_number"]) is not None
    with deployment.client("bhxh-admin-01") as fund:  # the fund writes every province's
        assert fund.import_entitlements(_jsonl(other), "jsonl").imported_count == 1
    assert deployment.running.gateway.store.entitlement_by_card(other["card_number"]) is not None


def _office_counter(d: Deployment, name: str, facility: str) -> str:
    if not (d.home / "pki" / "terminals" / f"{name}.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity(name, facility, "counter", "desk"))  # type: ignore[arg-type]
    return name


def test_only_a_bhxh_office_of_the_holders_province_records_a_death(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A death blocks every card of the person: a hospital's counter may report a lost or stolen
    card, not a death (any counter could otherwise refuse anyone care); a provincial office records
    its own province's holders' deaths only (review, 2026-12-03: the 01 office blocked a
    province-48 holder's every card)."""
    d = deployment
    hanoi, danang = _office_counter(d, "hn-counter-01", "01000"), _office_counter(d, "dn-counter-01", "48000")
    card, photos = fresh_card(d, tmp_path / "card", "deceased-1")
    cccd = json.loads((card / "card.json").read_text(encoding="utf-8"))["citizen_id"]
    assert json.loads((card / "entitlement.json").read_text(encoding="utf-8"))["province_code"] == "48"
    for terminal, message in (
        ("counter-01", "facility 01001 may not record a holder's death"),
        (hanoi, "facility 01000 may not record this holder's death: the holder has a card of province 48"),
    ):
        with d.client(terminal) as counter, pytest.raises(GatewayError) as refused:
            counter.report_lost(cccd, "deceased", OPERATOR)
        assert refused.value.code == "PERMISSION_DENIED"
        assert message in refused.value.message
    assert check(d, card, photos=photos, terminal="clean-desk").decision == "ACCEPTED"  # nothing recorded
    with d.client(danang) as office:
        assert office.report_lost(cccd, "deceased", OPERATOR)
    after = check(d, card, photos=photos, terminal="clean-desk")
    assert after.decision == "REJECTED" and after.reason_codes == ["DOCUMENT_REPORTED_LOST"]


def test_an_office_may_not_record_the_death_of_a_holder_with_no_card(deployment: Deployment) -> None:
    """No card on file names no province: the fund's to record."""
    office = _office_counter(deployment, "hn-counter-01", "01000")
    with deployment.client(office) as counter, pytest.raises(GatewayError) as refused:
        counter.report_lost("001099012345", "deceased", OPERATOR)
    assert refused.value.code == "PERMISSION_DENIED"
    assert "no card of the holder is on file" in refused.value.message


def test_a_provincial_office_may_not_write_a_card_for_another_provinces_holder(
    deployment: Deployment,
) -> None:
    """Attack run 2026-12-03: the 01 office wrote a province-01 card under the CCCD of a holder of a
    province-79 card (benefit level 1, its own registered facility), and the next check-in released
    it. The office writes its own province's holders only; the fund writes anyone's."""
    d = deployment
    sheldon = json.loads((d.card("sheldon") / "entitlement.json").read_text(encoding="utf-8"))
    assert sheldon["province_code"] == "79"
    by_cccd = {**_record(d, "01", "0123400011"), "cccd_number": sheldon["cccd_number"]}
    by_bhxh = {
        **_record(d, "01", "0123400012"),
        "card_number": "DN401" + sheldon["social_insurance_number"],
        "social_insurance_number": sheldon["social_insurance_number"],
    }
    mine = _record(d, "01", "0123400013")
    with d.client("hn-admin-01") as office:
        refused = office.import_entitlements(_jsonl(mine, by_cccd, by_bhxh), "jsonl")
    assert refused.imported_count == 0
    assert [(e.row, e.field) for e in refused.errors] == [(2, "cccd_number"), (3, "social_insurance_number")]
    assert "the holder has a card of province 79" in refused.errors[0].message
    for record in (mine, by_cccd, by_bhxh):
        assert d.running.gateway.store.entitlement_by_card(record["card_number"]) is None
    with d.client("bhxh-admin-01") as fund:  # the fund may: its dry run finds nothing wrong
        dry = fund.import_entitlements(_jsonl(by_cccd), "jsonl", dry_run=True)
    assert not dry.errors and dry.valid_count == 1

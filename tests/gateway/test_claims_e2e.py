"""End to end over the real gateway (mTLS, SQLite, face workers): the QĐ 4750 check-in record of an
accepted check-in, and a claims file reconciled against it through `bhytgate claims reconcile`."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import secrets
import sys
from pathlib import Path

import defusedxml.ElementTree as DET
import grpc
import pytest
from click.testing import CliRunner

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate_clients.cli import main as cli
from bhytgate_clients.sdk import GatewayError

from .conftest import Deployment
from .test_e2e import _begin_and_request, check

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.claims_gen import Visit, claims_bytes  # noqa: E402


def _fields(xml: bytes) -> dict[str, str]:
    item = DET.fromstring(xml, forbid_dtd=True).find("DSACH_TRANG_THAI_KCB/TRANG_THAI_KCB")
    assert item is not None
    return {child.tag: child.text or "" for child in item}


def _get(d: Deployment, terminal: str, vid: str) -> pb.GetCheckinRecordResponse:
    with d.client(terminal) as client:
        return client.verification.GetCheckinRecord(
            pb.GetCheckinRecordRequest(verification_id=vid), timeout=30
        )


def test_an_accepted_check_in_gives_its_record_and_its_claim_reconciles_as_verified(
    deployment: Deployment, tmp_path: Path
) -> None:
    card = deployment.card("obama")
    entitlement = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    ma_lk = "LK-E2E-" + secrets.token_hex(4)
    with deployment.client("desk-01") as client:
        _, request = _begin_and_request(deployment, card, client)
        request.checkin.CopyFrom(pb.CheckinDetails(ma_lk=ma_lk, ma_bn="BN0042", ma_loai_kcb="01"))
        response = client.verification.Verify(request, timeout=60)
    assert response.decision == pb.DECISION_ACCEPTED, response.reasons
    record = response.checkin_record
    vid, att = response.verification_id, hashlib.sha256(response.attestation.encode()).hexdigest()
    assert record.verification_id == vid and record.attestation_id == att
    fields = _fields(record.xml)
    cccd = fields["SO_CCCD"]
    assert len(cccd) == 12 and cccd.isdigit()
    assert fields["MA_LK"] == ma_lk and fields["MA_BN"] == "BN0042" and fields["MA_LOAI_KCB"] == "01"
    assert (
        fields["MA_THE_BHYT"] == entitlement["card_number"] and fields["HO_TEN"] == entitlement["full_name"]
    )
    assert fields["MA_CSKCB"] == "01001" and fields["DU_PHONG"] == f"bhytgate:v1;vid={vid};att={att}"
    assert record.expire_time.ToDatetime(dt.UTC) > dt.datetime.now(dt.UTC) + dt.timedelta(days=6)

    # by verification id: the facility that checked in (and an admin), nobody else
    assert _get(deployment, "desk-01", vid).checkin_record == record
    assert _get(deployment, "admin-01", vid).checkin_record.xml == record.xml
    for terminal, wanted, code in (
        ("desk-02", vid, grpc.StatusCode.NOT_FOUND),  # another facility: not even that it exists
        ("desk-01", secrets.token_hex(16), grpc.StatusCode.NOT_FOUND),
        ("desk-01", vid.upper(), grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.RpcError) as err:
            _get(deployment, terminal, wanted)
        assert err.value.code() == code

    # a claims file: this visit, and one never checked in
    now = dt.datetime.now(dt.UTC)
    seen = Visit(
        ma_lk, cccd, entitlement["card_number"], now - dt.timedelta(minutes=5), "01001", amount="215000"
    )
    ghost = Visit(
        "LK-GHOST-1", "079200000123", "DN4790000012345", now - dt.timedelta(hours=1), "01001", "880000"
    )
    path = tmp_path / "claims.xml"
    path.write_bytes(claims_bytes("01001", [seen, ghost], extra_tables=True))
    with deployment.client("admin-01") as admin:
        before = admin.verify_audit().record_count
    out_csv = tmp_path / "out.csv"
    result = CliRunner().invoke(
        cli,
        ["claims", "reconcile", str(path), "--json", "--csv", str(out_csv), "--home", str(deployment.home)],
    )
    assert result.exit_code == 1, result.output  # not every dossier verified
    report = json.loads(result.stdout)
    rows = [(r["ma_lk"], r["status"], r["verification_id"], r["attestation_id"]) for r in report["dossiers"]]
    assert rows == [(ma_lk, "verified", vid, att), ("LK-GHOST-1", "unverified", None, None)]
    assert report["dossiers"][0]["assurance_level"] == "chip_face"
    assert report["summary"]["classes"]["verified"] == {"count": 1, "amount": "215000"}
    assert report["summary"]["classes"]["unverified"] == {"count": 1, "amount": "880000"}
    assert report["files"][0]["facility"] == "01001" and report["files"][0]["declared"] == 2
    assert report["errors"] == []
    with out_csv.open(encoding="utf-8") as fh:
        assert [(r["ma_lk"], r["status"]) for r in csv.DictReader(fh)] == [
            (ma_lk, "verified"),
            ("LK-GHOST-1", "unverified"),
        ]
    with deployment.client("admin-01") as admin:
        audit = admin.verify_audit()
    assert audit.ok and audit.record_count == before + 1  # the reconciliation is audited, once

    # the same file in the human format
    text = CliRunner().invoke(cli, ["claims", "reconcile", str(path), "--home", str(deployment.home)])
    assert text.exit_code == 1 and "verified" in text.output and "LK-GHOST-1 unverified" in text.output


def test_claims_files_that_cannot_be_read_are_one_clear_error(deployment: Deployment, tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.xml"
    laughs.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<GIAMDINHHS>&b;</GIAMDINHHS>"
    )
    other = tmp_path / "other.xml"
    other.write_bytes(b"<HOADON><X/></HOADON>")
    for path, message in ((laughs, "declares a DTD"), (other, "root element is HOADON")):
        result = CliRunner().invoke(cli, ["claims", "reconcile", str(path), "--home", str(deployment.home)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def _stream(
    d: Deployment, terminal: str, requests: list[pb.ReconcileClaimsRequest]
) -> list[pb.ReconcileClaimsResponse]:
    with d.client(terminal) as client:
        return list(client.admin.ReconcileClaims(iter(requests), timeout=60))


def test_reconcile_claims_refuses_what_it_must(deployment: Deployment) -> None:
    data = claims_bytes(
        "01001", [Visit("LK1", "079200000123", "DN4790000012345", dt.datetime.now(dt.UTC), "01001")]
    )
    cases = [
        ("desk-01", [pb.ReconcileClaimsRequest(chunk=data)], grpc.StatusCode.PERMISSION_DENIED, "role"),
        (
            "admin-01",
            [pb.ReconcileClaimsRequest(window_minutes=20000, chunk=data)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        (
            "admin-01",
            [pb.ReconcileClaimsRequest(chunk=b"x" * (1024 * 1024 + 8192))],
            grpc.StatusCode.INVALID_ARGUMENT,
            "exceeds",
        ),
        ("admin-01", [], grpc.StatusCode.INVALID_ARGUMENT, ""),
        (
            "admin-01",
            [pb.ReconcileClaimsRequest(chunk=data[:-40])],
            grpc.StatusCode.INVALID_ARGUMENT,
            "not well-formed",
        ),
    ]
    for terminal, requests, code, text in cases:
        with pytest.raises(grpc.RpcError) as err:
            _stream(deployment, terminal, requests)
        assert err.value.code() == code, (terminal, err.value)
        said = [err.value.details() or ""] + [
            v.description for v in GatewayError.from_rpc_error(err.value).violations
        ]
        assert any(text in line for line in said), said
    ok = _stream(
        deployment,
        "admin-01",
        [pb.ReconcileClaimsRequest(chunk=data[:100]), pb.ReconcileClaimsRequest(chunk=data[100:])],
    )
    assert ok[-1].summary.dossier_count == 1 and ok[-1].bytes_read == len(data)


def test_bad_checkin_details_are_invalid_before_the_challenge_is_spent(deployment: Deployment) -> None:
    card = deployment.card("obama")
    with deployment.client("clean-desk") as client:
        _, request = _begin_and_request(deployment, card, client)
        request.checkin.ma_loai_kcb = "1"
        request.checkin.ma_lk = "LK 1\n"
        with pytest.raises(grpc.RpcError) as err:
            client.verification.Verify(request, timeout=60)
        fields = {f for f, _ in GatewayError.from_rpc_error(err.value).violations}
        assert fields == {"checkin.ma_loai_kcb", "checkin.ma_lk"}
        request.ClearField("checkin")
        assert client.verification.Verify(request, timeout=60).decision == pb.DECISION_ACCEPTED


def test_the_checkin_command_writes_the_record(deployment: Deployment, tmp_path: Path) -> None:
    from .test_e2e import live_photos

    card = deployment.card("obama")
    out = tmp_path / "record.xml"
    args = ["checkin", "--card", str(card), "--terminal", "clean-desk", "--ma-lk", "LK-CLI-1", "--json"]
    args += ["--checkin-record", str(out), "--home", str(deployment.home)]
    for photo in live_photos(deployment, card)[:2]:
        args += ["--frame", str(photo)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["checkin_record"] is not None
    fields = _fields(out.read_bytes())
    assert fields["MA_LK"] == "LK-CLI-1" and printed["verification_id"] in fields["DU_PHONG"]
    shown = CliRunner().invoke(
        cli,
        [
            "claims",
            "record",
            printed["verification_id"],
            "--terminal",
            "clean-desk",
            "--home",
            str(deployment.home),
        ],
    )
    assert shown.exit_code == 0 and _fields(shown.stdout.encode()) == fields


def test_one_check_in_claimed_twice_is_a_duplicate_in_the_cli_and_the_console(
    deployment: Deployment, tmp_path: Path
) -> None:
    from .fresh import fresh_card
    from .test_console import upload

    card, photos = fresh_card(deployment, tmp_path / "card", "duplicate-claims-test")  # one check-in
    entitlement = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    result = check(deployment, card, photos=photos)  # desk-01, facility 01001
    assert result.decision == "ACCEPTED" and result.checkin_record, result.reasons
    vid = result.verification_id
    cccd = _fields(result.checkin_record.encode("utf-8"))["SO_CCCD"]
    now = dt.datetime.now(dt.UTC)
    tag = secrets.token_hex(3)
    visits = [
        Visit(
            f"LK-DUP-A-{tag}",
            cccd,
            entitlement["card_number"],
            now - dt.timedelta(minutes=3),
            "01001",
            "215000",
        ),
        Visit(
            f"LK-DUP-B-{tag}",
            cccd,
            entitlement["card_number"],
            now + dt.timedelta(minutes=30),
            "01001",
            "99000",
        ),
    ]
    path = tmp_path / "twice.xml"
    path.write_bytes(claims_bytes("01001", visits))
    args = ["claims", "reconcile", str(path), "--home", str(deployment.home)]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 1, result.output  # a duplicate is not a verified dossier
    report = json.loads(result.stdout)
    assert [(r["ma_lk"], r["status"], r["verification_id"]) for r in report["dossiers"]] == [
        (f"LK-DUP-A-{tag}", "verified", vid),
        (f"LK-DUP-B-{tag}", "duplicate", vid),
    ]
    assert report["dossiers"][1]["reason"] == (
        f"its check-in already verifies dossier 1 (MA_LK LK-DUP-A-{tag}) of this file"
    )
    assert report["summary"]["classes"]["duplicate"] == {"count": 1, "amount": "99000"}
    assert report["files"][0]["classes"]["duplicate"] == {"count": 1, "amount": "99000"}
    text = CliRunner().invoke(cli, args).output
    assert any(line.split() == ["duplicate", "1", "99000"] for line in text.splitlines()), text
    assert f"LK-DUP-B-{tag} duplicate: its check-in already verifies dossier 1" in text
    status, page = upload(deployment, "admin-01", path.read_bytes())
    assert status == 200, page
    assert '<tr data-class="duplicate"><td>duplicate</td><td class="count">1</td>' in page
    assert f'<tr data-status="duplicate"><td>2</td><td>LK-DUP-B-{tag}</td>' in page


def test_a_check_in_claimed_by_file_a_is_a_duplicate_in_file_b_and_file_a_again_is_not(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Across files (migration 9's claims): file A's dossier claims the check-in; file B's dossier
    of the same visit (another MA_LK) is `duplicate`, naming A's dossier by file digest; A sent
    again is still `verified` (the same dossiers hold their own claims), over gRPC and the console."""
    from .fresh import fresh_card
    from .test_console import upload

    card, photos = fresh_card(deployment, tmp_path / "card", "cross-file-claims-test")
    entitlement = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    result = check(deployment, card, photos=photos)  # desk-01, facility 01001
    assert result.decision == "ACCEPTED" and result.checkin_record, result.reasons
    vid = result.verification_id
    cccd = _fields(result.checkin_record.encode("utf-8"))["SO_CCCD"]
    now, tag = dt.datetime.now(dt.UTC), secrets.token_hex(3)

    def claim_file(ma_lk: str, amount: str) -> bytes:
        visit = Visit(ma_lk, cccd, entitlement["card_number"], now - dt.timedelta(minutes=2), "01001", amount)
        return claims_bytes("01001", [visit])

    def reconcile(data: bytes) -> list[pb.DossierResult]:
        responses = _stream(
            deployment, "admin-01", [pb.ReconcileClaimsRequest(file_name="f.xml", chunk=data)]
        )
        return [d for r in responses for d in r.dossiers]

    file_a, file_b = claim_file(f"LK-XF-A-{tag}", "215000"), claim_file(f"LK-XF-B-{tag}", "99000")
    first = reconcile(file_a)
    assert [(d.status, d.verification_id) for d in first] == [(pb.DOSSIER_STATUS_VERIFIED, vid)]
    second = reconcile(file_b)
    assert [(d.status, d.verification_id) for d in second] == [(pb.DOSSIER_STATUS_DUPLICATE, vid)]
    digest = hashlib.sha256(file_a).hexdigest()[:16]
    assert second[0].reason.startswith(
        f"its check-in already verifies dossier 1 of facility 01001's file sha256:{digest} (reconciled "
    ), second[0].reason
    again = reconcile(file_a)
    assert [(d.status, d.verification_id) for d in again] == [(pb.DOSSIER_STATUS_VERIFIED, vid)]
    assert again[0].reason.startswith(
        "re-sent: this dossier already holds its check-in as dossier 1 of facility 01001's file"
        f" sha256:{digest} "
    ), again[0].reason
    status, page = upload(deployment, "admin-01", file_b)
    assert status == 200, page
    assert '<tr data-class="duplicate"><td>duplicate</td><td class="count">1</td>' in page
    # the console lists a re-sent dossier although it is verified (a visit billed again is seen)
    status, page = upload(deployment, "admin-01", file_a)
    assert status == 200, page
    assert f'<tr data-status="verified"><td>1</td><td>LK-XF-A-{tag}</td>' in page
    assert "re-sent: this dossier already holds its check-in" in page

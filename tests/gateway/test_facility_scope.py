"""Facility-scoped admins over the real gRPC socket (mTLS): an `admin` reads the check-in records
and reconciles the claims files of its own facility only; the fund's `auditor` sees every facility."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import defusedxml.ElementTree as DET
import grpc
import pytest

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.pki.devca import TerminalIdentity, add_terminal

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import check

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.claims_gen import Visit, claims_bytes  # noqa: E402

ADMIN_79014 = "admin-79014"


def _terminal(d: Deployment, terminal_id: str, facility: str, role: str) -> str:
    if not (d.home / "pki" / "terminals" / f"{terminal_id}.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity(terminal_id, facility, role, "desk"))  # type: ignore[arg-type]
    return terminal_id


def _record(d: Deployment, terminal: str, vid: str) -> pb.CheckinRecord:
    with d.client(terminal) as client:
        return client.verification.GetCheckinRecord(
            pb.GetCheckinRecordRequest(verification_id=vid), timeout=30
        ).checkin_record


def _reconcile(d: Deployment, terminal: str, data: bytes) -> list[pb.ReconcileClaimsResponse]:
    with d.client(terminal) as client:
        return list(client.admin.ReconcileClaims(iter([pb.ReconcileClaimsRequest(chunk=data)]), timeout=60))


def _statuses(answers: list[pb.ReconcileClaimsResponse]) -> list[tuple[str, int, str, str]]:
    return [(r.ma_lk, r.status, r.verification_id, r.reason) for a in answers for r in a.dossiers]


def _refused(action: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        action()
    return err.value


def test_records_and_claims_are_scoped_to_the_admins_facility_and_the_auditor_sees_all(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    admin_79014 = _terminal(d, ADMIN_79014, "79014", "admin")
    card, photos = fresh_card(d, tmp_path / "card", "facility-scope-test")
    result = check(d, card, terminal="desk-02", photos=photos)  # facility 79014
    assert result.decision == "ACCEPTED", result.reasons
    vid = result.verification_id
    xml = _record(d, "desk-02", vid).xml
    fields = {c.tag: c.text or "" for c in DET.fromstring(xml).iter()}
    cccd, card_no = fields["SO_CCCD"], fields["MA_THE_BHYT"]

    # Reads: the facility's own admin and the auditor; another facility's admin learns nothing.
    assert _record(d, admin_79014, vid).xml == xml
    assert _record(d, "auditor-01", vid).xml == xml
    unknown = _refused(lambda: _record(d, "admin-01", secrets.token_hex(16)))
    other = _refused(lambda: _record(d, "admin-01", vid))  # admin of 01001
    assert other.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
    assert other.details() == unknown.details()  # the same answer as for an id that never existed
    # The auditor role is national only at the fund (00000): one of a hospital sees its own only.
    hospital_auditor = _terminal(d, "auditor-01001", "01001", "auditor")
    assert _refused(lambda: _record(d, hospital_auditor, vid)).code() == grpc.StatusCode.NOT_FOUND

    # Reconciliation: facility 79014's file.
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    entitlement = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
    assert entitlement["card_number"] == card_no
    file_79014 = claims_bytes("79014", [Visit("LK-SCOPE-1", cccd, card_no, at, "79014", amount="120000")])
    verified = (("LK-SCOPE-1", pb.DOSSIER_STATUS_VERIFIED, vid, ""),)
    assert tuple(_statuses(_reconcile(d, admin_79014, file_79014))) == verified
    # the auditor's run of the same file: verified, and said to be the file reconciled before
    ((ma_lk, status, checkin, reason),) = _statuses(_reconcile(d, "auditor-01", file_79014))
    assert (ma_lk, status, checkin) == verified[0][:3]
    digest = hashlib.sha256(file_79014).hexdigest()[:16]
    assert reason.startswith(
        "re-sent: this dossier already holds its check-in as dossier 1 of facility 79014's file"
        f" sha256:{digest} "
    ), reason
    denied = _refused(lambda: _reconcile(d, "admin-01", file_79014))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    not_theirs = _refused(lambda: _reconcile(d, hospital_auditor, file_79014))
    assert not_theirs.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied.details() == (
        "claims file: the file is facility 79014's (THONGTINDONVI/MACSKCB); an admin of facility"
        " 01001 reconciles its own facility's files only"
    )
    # 01001's own file naming the same person: its admin does not see 79014's check-in...
    file_01001 = claims_bytes("01001", [Visit("LK-SCOPE-2", cccd, card_no, at, "01001", amount="90000")])
    assert _statuses(_reconcile(d, "admin-01", file_01001)) == [
        ("LK-SCOPE-2", pb.DOSSIER_STATUS_UNVERIFIED, "", "")
    ]
    # ...the auditor does: a dossier at 01001 for a person verified at 79014 that hour.
    [(ma_lk, status, seen, reason)] = _statuses(_reconcile(d, "auditor-01", file_01001))
    assert (ma_lk, status, seen) == ("LK-SCOPE-2", pb.DOSSIER_STATUS_MISMATCH, vid)
    assert "verified at facility 79014, not 01001" in reason
    # The auditor only reads: the administrative RPCs stay the admin's.
    with d.client("auditor-01") as auditor:
        refused = _refused(lambda: auditor.admin.VerifyAuditChain(pb.VerifyAuditChainRequest(), timeout=30))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED

"""`bhytgate admin audit` and the VerifyAuditChain RPC on a running gateway find an audit index row
deleted or altered behind its back (the chain itself untouched), and say which record it hides."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from bhytgate_clients.cli import main

from .conftest import Deployment
from .test_e2e import check

GUARDS = ("audit_index_no_update", "audit_index_no_delete")


def test_a_deleted_or_altered_index_row_is_found(deployment: Deployment) -> None:
    result = check(deployment, deployment.card("obama"))  # a decision of its own, whatever ran before
    with deployment.client("admin-01") as admin:
        before = admin.verify_audit()
    assert before.ok and before.record_count >= 1, before
    # An attacker with write access to the database file: drop the index's append-only triggers,
    # delete the row of a decision (the dashboard and the export would no longer find it), then
    # put back an altered one. The deployment is the session's: the row and the triggers are put
    # back afterwards (autocommit, so the gateway's own appends never wait on this connection).
    db = sqlite3.connect(deployment.home / "gateway.db", isolation_level=None)
    guards = list(
        db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)", GUARDS)
    )
    assert sorted(name for name, _ in guards) == sorted(GUARDS)
    seq, body = db.execute(
        "SELECT seq, body FROM audit_log WHERE body LIKE ? ORDER BY seq DESC LIMIT 1",
        (f'%"verification_id":"{result.verification_id}"%',),
    ).fetchone()
    assert json.loads(body)["action"] == "verify"
    row = db.execute("SELECT * FROM audit_index WHERE seq = ?", (seq,)).fetchone()
    columns = "seq, facility, province, document, at, action"
    try:
        for name, _ in guards:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("DELETE FROM audit_index WHERE seq = ?", (seq,))
        with deployment.client("admin-01") as admin:
            missing = admin.verify_audit()
        assert not missing.ok and missing.first_broken_record == seq, missing
        assert missing.detail == (
            f"audit index row missing for record {seq} (the dashboard and the export would not find it)"
        )
        altered = (seq, "79014", "79", *row[3:])
        db.execute(f"INSERT INTO audit_index ({columns}) VALUES (?, ?, ?, ?, ?, ?)", altered)
        cli = CliRunner().invoke(main, ["admin", "audit", "--home", str(deployment.home)])
        assert cli.exit_code == 1, cli.output
        out = json.loads(cli.stdout)
        assert out.pop("record_count") >= before.record_count
        assert out == {
            "ok": False,
            "first_broken_record": seq,
            "detail": f"audit index row of record {seq} differs from its record (facility, province)",
        }
    finally:  # whichever step failed: the guards off, the original row, the guards back
        for name, _ in guards:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        db.execute("DELETE FROM audit_index WHERE seq = ?", (seq,))
        db.execute(f"INSERT INTO audit_index ({columns}) VALUES (?, ?, ?, ?, ?, ?)", tuple(row))
        for _, create in guards:
            db.execute(create)
        db.close()
    with deployment.client("admin-01") as admin:
        assert admin.verify_audit().ok

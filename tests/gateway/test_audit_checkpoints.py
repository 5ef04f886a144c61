"""Audit checkpoints over the real gRPC socket and through `bhytgate admin audit --offline`:
an admin or the fund's auditor takes a signed checkpoint, it verifies with the gateway's published
JWKS, VerifyAuditChain holds the log to every checkpoint given, refuses one not signed by this
gateway (INVALID_ARGUMENT, naming it), and reports a log rewritten or cut since a checkpoint; the
offline check finds a real rewrite (every hash recomputed) in a database file."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhytgate.attestation.jws import generate_key, jwks_json
from bhytgate.audit import AuditEvent, append_event, verify_chain
from bhytgate.audit.chain import GENESIS_HASH, canonical_json, entry_hash
from bhytgate.audit.checkpoint import AuditCheckpoint, sign_checkpoint, verify_checkpoint
from bhytgate.storage.sql import SqliteStore
from bhytgate_clients.cli.admin import admin
from bhytgate_clients.sdk import GatewayError

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import check


def test_a_checkpoint_verifies_offline_and_pins_the_live_log(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    card, photos = fresh_card(d, tmp_path / "card", "checkpoint-1")
    check(d, card, photos=photos, terminal="clean-desk")
    with d.client("auditor-01") as auditor:
        taken = auditor.audit_checkpoint()
        jwks = auditor.attestation_keys()
    pinned = verify_checkpoint(taken.checkpoint, jwks)  # offline, with the published keys only
    printed = CliRunner().invoke(admin, ["jwks", "--terminal", "auditor-01", "--home", str(d.home)])
    assert printed.exit_code == 0 and json.loads(printed.output) == json.loads(jwks)
    assert (pinned.size, pinned.head) == (taken.record_count, taken.head_hash) and pinned.size >= 1
    check(d, card, photos=photos, terminal="clean-desk")  # the log grows past the checkpoint
    with d.client("admin-01") as admin_client:
        report = admin_client.verify_audit([taken.checkpoint])
        assert report.ok, report.detail
        # Checkpoints signed with this gateway's key but naming another head, or a longer log, are
        # what a rewritten or cut log looks like from here.
        key = d.running.gateway.attestation_key
        issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
        other_head = sign_checkpoint(AuditCheckpoint("x", pinned.size, "ab" * 32, issued), key)
        rewritten = admin_client.verify_audit([taken.checkpoint, other_head])
        assert not rewritten.ok and rewritten.first_broken_record == pinned.size - 1
        assert "rewritten since" in rewritten.detail
        longer = sign_checkpoint(AuditCheckpoint("x", 10**9, "ab" * 32, issued), key)
        cut = admin_client.verify_audit([longer])
        assert not cut.ok and "truncated" in cut.detail
        # One not signed by this gateway is refused, naming it.
        foreign = sign_checkpoint(AuditCheckpoint("x", 1, "ab" * 32, issued), generate_key())
        with pytest.raises(GatewayError) as refused:
            admin_client.verify_audit([taken.checkpoint, foreign])
        assert refused.value.code == "INVALID_ARGUMENT"
        assert [v.field for v in refused.value.violations] == ["checkpoints[1]"]
    # The CLI: a checkpoint line taken by the auditor, checked by the admin over gRPC.
    line = CliRunner().invoke(admin, ["checkpoint", "--terminal", "auditor-01", "--home", str(d.home)])
    assert line.exit_code == 0, line.output
    (tmp_path / "kept.jsonl").write_text(line.output)
    done = CliRunner().invoke(
        admin, ["audit", "--home", str(d.home), "--checkpoints", str(tmp_path / "kept.jsonl")]
    )
    assert done.exit_code == 0 and json.loads(done.output)["ok"], done.output
    with d.client("desk-01") as desk, pytest.raises(GatewayError) as denied:
        desk.audit_checkpoint()
    assert denied.value.code == "PERMISSION_DENIED"


def _rewrite_from(path: Path, seq: int) -> None:
    """What someone with write access to the file can do: change record `seq` and recompute every
    hash after it, so that the chain verifies again."""
    db = sqlite3.connect(path)
    triggers = list(
        db.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'")
    )
    for (name,) in triggers:
        db.execute(f"DROP TRIGGER {name}")
    rows = list(db.execute("SELECT seq, prev_hash, body FROM audit_log WHERE seq >= ? ORDER BY seq", (seq,)))
    prev = rows[0][1]
    for number, _, body in rows:
        parsed = json.loads(body)
        if number == seq:
            parsed["decision"] = "REJECTED" if parsed["decision"] == "ACCEPTED" else "ACCEPTED"
        text = canonical_json(parsed)
        digest = entry_hash(prev, text)
        db.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ?, body = ? WHERE seq = ?",
            (prev, digest, text, number),
        )
        prev = digest
    db.commit()
    db.close()


def test_the_offline_check_finds_a_rewrite_with_every_hash_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SqliteStore(path, template_key=None)
    key = generate_key()
    at = dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)
    for n in range(6):
        append_event(store, AuditEvent(f"v-{n}", at, "ACCEPTED", "01001", "desk-01"), b"k" * 32)
        if n == 3:
            size, head = store.audit_head()
            token = sign_checkpoint(AuditCheckpoint("bhytgate-test", size, head, at), key)
    store.close()
    (tmp_path / "checkpoints.jsonl").write_text(json.dumps({"checkpoint": token}) + "\n")
    (tmp_path / "jwks.json").write_text(jwks_json([key.public_key()]))
    args = ["audit", "--offline", "--home", str(tmp_path), "--database", f"sqlite:///{path}"]
    kept = str(tmp_path / "checkpoints.jsonl")
    pinned = [*args, "--checkpoints", kept, "--jwks", str(tmp_path / "jwks.json")]
    assert CliRunner().invoke(admin, pinned).exit_code == 0

    _rewrite_from(path, 2)
    store = SqliteStore(path, template_key=None)
    assert verify_chain(store.iter_audit()).ok  # the chain alone sees nothing
    assert store.audit_head()[1] != GENESIS_HASH
    store.close()
    assert CliRunner().invoke(admin, args).exit_code == 0  # without the checkpoint neither
    done = CliRunner().invoke(admin, pinned)
    assert done.exit_code == 1, done.output
    report = json.loads(done.output)
    assert report["first_broken_record"] == 3 and "rewritten since" in report["detail"]
    # Offline, checkpoints need the key that signed them.
    refused = CliRunner().invoke(admin, [*args, "--checkpoints", kept])
    assert refused.exit_code == 2 and "--jwks" in refused.output


def test_more_checkpoints_than_one_call_takes_are_all_checked(deployment: Deployment) -> None:
    """Review 2026-12-02: a checkpoints file appended once an hour (the README's way) holds over
    1000 lines after six weeks, and `admin audit --checkpoints` then failed INVALID_ARGUMENT
    "checkpoints: at most 1000" for good. The SDK sends them 1000 a call; a refused one is named by
    its place in the whole list, a failing one is reported whichever call it was in."""
    d = deployment
    key = d.running.gateway.attestation_key
    size, head = d.running.gateway.store.audit_head()
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
    good = sign_checkpoint(AuditCheckpoint("x", size, head, issued), key)
    with d.client("admin-01") as admin_client:
        report = admin_client.verify_audit([good] * 1500)
        assert report.ok, report.detail
        rewritten = sign_checkpoint(AuditCheckpoint("x", size, "ab" * 32, issued), key)
        report = admin_client.verify_audit([good] * 1200 + [rewritten])
        assert not report.ok and report.first_broken_record == size - 1, report
        foreign = sign_checkpoint(AuditCheckpoint("x", 1, "ab" * 32, issued), generate_key())
        with pytest.raises(GatewayError) as refused:
            admin_client.verify_audit([good] * 1500 + [foreign])
        assert refused.value.code == "INVALID_ARGUMENT"
        assert [v.field for v in refused.value.violations] == ["checkpoints[1500]"]

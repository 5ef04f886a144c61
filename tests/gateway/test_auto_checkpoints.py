"""The gateway keeps audit checkpoints by itself (service/checkpointer.py): a real gateway with a
short `checkpoint_interval_s` appends signed lines to its checkpoint file as its log grows, one
more at stop, none while the log stands still; `bhytgate admin audit --offline --checkpoints`
accepts the file, and finds a rewrite with every hash recomputed that the chain alone misses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhytgate.audit import AuditEvent, append_event
from bhytgate.audit.checkpoint import verify_checkpoint
from bhytgate.service.config import load_config
from bhytgate.service.server import start_gateway
from bhytgate_clients.cli.admin import admin

from .test_audit_checkpoints import _rewrite_from


def _lines(path: Path) -> list[dict[str, object]]:
    return (
        [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()] if path.exists() else []
    )


def test_the_gateway_appends_checkpoints_that_pin_its_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kept = tmp_path / "elsewhere" / "checkpoints.jsonl"
    config = load_config(
        home,
        listen="127.0.0.1:0",
        plaintext=True,
        workers=1,
        checkpoint_interval_s=0.3,
        checkpoint_file=kept,
    )
    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_gateway(config))
    try:
        store, key = running.gateway.store, b"k" * 32
        at = dt.datetime.now(dt.UTC)

        def grow(n: int) -> int:
            for i in range(n):
                append_event(
                    store, AuditEvent(f"auto-{time.monotonic_ns()}-{i}", at, "ACCEPTED", "01001", "d"), key
                )
            return store.audit_head()[0]

        size = grow(3)
        lines = _wait_for_running(loop, kept, size)
        loop.run_until_complete(asyncio.sleep(1.0))  # the log stands still: no new line
        assert len(_lines(kept)) == len(lines)
        size = grow(2)
        _wait_for_running(loop, kept, size)
        grow(1)  # after the last periodic one: the checkpoint at stop pins it
        jwks = running.gateway.admin.jwks()
    finally:
        loop.run_until_complete(running.stop(0.5))
        loop.close()
    lines = _lines(kept)
    final = store_size(home)
    assert lines[-1]["record_count"] == final
    for line in lines:
        pinned = verify_checkpoint(str(line["checkpoint"]), jwks)
        assert (pinned.size, pinned.head) == (line["record_count"], line["head_hash"])
    assert kept.stat().st_mode & 0o777 == 0o640

    (tmp_path / "jwks.json").write_text(jwks)
    args = ["audit", "--offline", "--home", str(home), "--checkpoints", str(kept)]
    args += ["--jwks", str(tmp_path / "jwks.json")]
    done = CliRunner().invoke(admin, args)
    assert done.exit_code == 0 and json.loads(done.output)["ok"], done.output
    _rewrite_from(home / "gateway.db", 2)
    broken = CliRunner().invoke(admin, args)
    assert broken.exit_code == 1, broken.output
    assert "rewritten since" in json.loads(broken.output)["detail"]


def _wait_for_running(loop: asyncio.AbstractEventLoop, path: Path, size: int) -> list[dict[str, object]]:
    """Waits on the gateway's own loop (it runs only while we run it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = _lines(path)
        if lines and lines[-1]["record_count"] == size:
            return lines
        loop.run_until_complete(asyncio.sleep(0.1))
    raise AssertionError(f"no checkpoint of {size} records in {path}: {_lines(path)}")


def store_size(home: Path) -> int:
    from bhytgate.storage.sql import SqliteStore

    store = SqliteStore(home / "gateway.db", template_key=None)
    try:
        return store.audit_head()[0]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("checkpoint_interval_s = -1", "checkpoint_interval_s: seconds from 0 (off)"),
        ('checkpoint_interval_s = "hourly"', "checkpoint_interval_s: seconds from 0 (off)"),
        ("checkpoint_file = 3", "checkpoint_file: a path"),
        ("checkpoint_every = 60", "unknown setting(s) checkpoint_every"),
    ],
)
def test_bad_audit_settings_are_refused(tmp_path: Path, section: str, message: str) -> None:
    (tmp_path / "gateway.toml").write_text(f"[audit]\n{section}\n", encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        load_config(tmp_path)
    assert message in str(refused.value)

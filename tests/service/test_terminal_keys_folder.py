"""The terminal_keys/ folder: `<facility>/<terminal id>.pem` binds that facility's terminal; a file
directly in the folder (the layout before facilities) binds the id everywhere, and says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bhytgate.service.state import TerminalKeys
from bhytgate.storage import SqliteStore


def test_a_facility_folder_binds_that_facility_and_a_bare_file_every_facility(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "terminal_keys"
    (folder / "79014").mkdir(parents=True)
    (folder / "not-a-facility").mkdir()
    (folder / "79014" / "desk-01.pem").write_text("PEM-B", encoding="ascii")
    (folder / "kiosk-9.pem").write_text("PEM-ANY", encoding="ascii")
    (folder / "not-a-facility" / "desk-01.pem").write_text("IGNORED", encoding="ascii")
    keys = TerminalKeys(SqliteStore(tmp_path / "g.db", template_key=bytes(32)))
    with caplog.at_level(logging.WARNING, logger="bhytgate.state"):
        assert keys.import_folder(folder) == 2
    assert keys.get("desk-01", "79014") == "PEM-B" and keys.get("desk-01", "01001") is None
    assert keys.get("kiosk-9", "01001") == keys.get("kiosk-9", "79014") == "PEM-ANY"
    assert "binds terminal kiosk-9 in every facility" in caplog.text

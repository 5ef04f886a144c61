"""benchmarks/floor_ab.py: the setting it switches is named exactly and keeps its type."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.floor_ab import _target, _value  # noqa: E402  (the repository root, as test_smoke.py)


def test_the_setting_is_a_module_and_an_existing_name() -> None:
    module, name = _target("bhytgate.face.detect:CONFIRM_REGION")
    assert name == "CONFIRM_REGION" and isinstance(getattr(module, name), float)
    for bad in ("bhytgate.face.detect", "bhytgate.face.detect:NO_SUCH", "bhytgate.face.detect:1x"):
        with pytest.raises(SystemExit):
            _target(bad)


def test_values_keep_the_settings_type() -> None:
    assert _value("1.5", 2.0) == 1.5 and isinstance(_value("2", 2.0), float)
    assert _value("3", 1) == 3 and isinstance(_value("3", 1), int)
    assert _value("false", True) is False and _value("yes", False) is True
    with pytest.raises(ValueError):
        _value("wide", 2.0)

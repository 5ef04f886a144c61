"""Shared fixtures: where ../shared is, and skipping with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis.internal.observability  # noqa: F401
import pytest

# Imported here, at collection, rather than by hypothesis's pytest plugin at the end of the session:
# on CPython 3.11.7 that late import's assertion rewrite (ast.parse) failed with "AST constructor
# recursion depth mismatch" after the raw-HTTP/2 tests of tests/gateway/test_partial_requests.py
# ran in the same process with the burst test (CPython's AST recursion tracking; the tests passed).

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BHYTGATE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED} (set BHYTGATE_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def emrtd_dir(shared_dir: Path) -> Path:
    path = shared_dir / "emrtd"
    if not path.is_dir():
        pytest.skip(f"eMRTD test vectors not found at {path}")
    return path


@pytest.fixture(scope="session")
def faces_dir(shared_dir: Path) -> Path:
    path = shared_dir / "faces"
    if not path.is_dir():
        pytest.skip(f"face photos not found at {path}")
    return path

"""The committed generated code must be exactly what the .proto produces (no drift)."""

from __future__ import annotations

from pathlib import Path

from bhytgate.api import codegen


def test_committed_generated_code_is_fresh(tmp_path: Path) -> None:
    written = codegen.generate(tmp_path)
    assert {p.name for p in written} == {
        "gateway_pb2.py",
        "gateway_pb2.pyi",
        "gateway_pb2_grpc.py",
        "gateway_pb2_grpc.pyi",
    }
    stale = [p.name for p in written if (codegen.DEFAULT_OUT_DIR / p.name).read_bytes() != p.read_bytes()]
    assert stale == [], f"regenerate with `python -m bhytgate.api.codegen`: {stale}"


def test_imports_are_rewritten(tmp_path: Path) -> None:
    grpc_module = (codegen.DEFAULT_OUT_DIR / "gateway_pb2_grpc.py").read_text()
    assert "from bhytgate.api.v1 import gateway_pb2" in grpc_module
    assert "from bhytgate.v1 import" not in grpc_module


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert codegen.main(["--check"]) == 0
    (tmp_path / "gateway_pb2.py").write_text("# stale\n")
    assert codegen.main(["--check", "--out", str(tmp_path)]) == 1

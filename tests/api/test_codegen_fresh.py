"""The committed generated code must be exactly what the .proto produces (no drift), in both of its
outputs: the server's `bhytgate.api.v1` and the light client distribution's `bhytgate_client.v1`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhytgate.api import codegen

TARGETS = pytest.mark.parametrize("target", codegen.TARGETS, ids=lambda t: t.package)


def test_both_packages_are_targets() -> None:
    assert [t.package for t in codegen.TARGETS] == ["bhytgate.api.v1", "bhytgate_client.v1"]
    assert codegen.TARGETS[0].out_dir == codegen.DEFAULT_OUT_DIR


@TARGETS
def test_committed_generated_code_is_fresh(tmp_path: Path, target: codegen.Target) -> None:
    written = codegen.generate(tmp_path, package=target.package)
    assert {p.name for p in written} == {
        "gateway_pb2.py",
        "gateway_pb2.pyi",
        "gateway_pb2_grpc.py",
        "gateway_pb2_grpc.pyi",
    }
    stale = [p.name for p in written if (target.out_dir / p.name).read_bytes() != p.read_bytes()]
    assert stale == [], f"regenerate with `python -m bhytgate.api.codegen`: {target.package}: {stale}"


@TARGETS
def test_imports_are_rewritten(target: codegen.Target) -> None:
    for name in ("gateway_pb2_grpc.py", "gateway_pb2_grpc.pyi"):
        module = (target.out_dir / name).read_text()
        assert f"from {target.package} import gateway_pb2" in module
        assert "from bhytgate.v1 import" not in module
    others = [t.package for t in codegen.TARGETS if t != target]
    assert not any(other in (target.out_dir / "gateway_pb2_grpc.py").read_text() for other in others)


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert codegen.main(["--check"]) == 0  # every target
    (tmp_path / "gateway_pb2.py").write_text("# stale\n")
    assert codegen.main(["--check", "--out", str(tmp_path)]) == 1
    assert codegen.main(["--check", "--out", str(tmp_path), "--package", "bhytgate_client.v1"]) == 1


def test_the_two_outputs_share_one_descriptor() -> None:
    """Loaded together (the CLI, the tests), both modules' messages are the same classes."""
    from bhytgate.api.v1 import gateway_pb2 as server_pb
    from bhytgate_client.v1 import gateway_pb2 as client_pb

    assert client_pb.DESCRIPTOR is server_pb.DESCRIPTOR
    assert client_pb.VerifyRequest is server_pb.VerifyRequest

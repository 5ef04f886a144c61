"""The committed generated code must be exactly what the .proto produces (no drift). It exists once,
in the light client distribution's `bhytgate_client.v1`; the server's `bhytgate.api.v1` re-exports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhytgate.api import codegen

TARGETS = pytest.mark.parametrize("target", codegen.TARGETS, ids=lambda t: t.package)


def test_one_generated_copy_in_the_client_distribution() -> None:
    assert [t.package for t in codegen.TARGETS] == ["bhytgate_client.v1"]
    assert codegen.TARGETS[0].out_dir == codegen.DEFAULT_OUT_DIR
    server_v1 = Path(codegen.__file__).parent / "v1"
    assert not list(server_v1.glob("*.pyi"))  # no second copy of the generated stubs


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
    assert "bhytgate.api" not in (target.out_dir / "gateway_pb2_grpc.py").read_text()


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert codegen.main(["--check"]) == 0  # every target
    (tmp_path / "gateway_pb2.py").write_text("# stale\n")
    assert codegen.main(["--check", "--out", str(tmp_path)]) == 1
    assert codegen.main(["--check", "--out", str(tmp_path), "--package", "bhytgate_client.v1"]) == 1


def test_the_server_re_exports_the_client_modules() -> None:
    """The server's import path names the very classes of the client distribution."""
    from bhytgate.api.v1 import gateway_pb2 as server_pb
    from bhytgate_client.v1 import gateway_pb2 as client_pb

    assert client_pb.DESCRIPTOR is server_pb.DESCRIPTOR
    assert client_pb.VerifyRequest is server_pb.VerifyRequest
    from bhytgate.api.v1 import gateway_pb2_grpc as server_grpc
    from bhytgate_client.v1 import gateway_pb2_grpc as client_grpc

    assert server_grpc.add_VerificationServiceServicer_to_server is (
        client_grpc.add_VerificationServiceServicer_to_server
    )
    assert server_grpc.AdminServiceServicer is client_grpc.AdminServiceServicer

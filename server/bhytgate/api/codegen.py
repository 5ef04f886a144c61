"""Regenerate the gRPC code from `proto/` with grpc_tools.protoc.

One proto, one generated copy: `bhytgate_client.v1`, in the light client distribution
(clients/sdk-python), which must not depend on the server's package. The server depends on that
distribution and re-exports the modules as `bhytgate.api.v1`. The generated files are committed so
that a plain install needs no protoc; this module (and the freshness test that calls it) keeps them
identical to what the .proto says.

grpc's Python plugin emits no type stubs, so `*_pb2_grpc.pyi` is written here from the
descriptor set: stubs typed per channel kind (a grpc.aio channel gives awaitable calls), servicer
methods that may be sync or async, and typed `add_*_to_server`.

protoc names Python modules after the proto path (`bhytgate/v1/gateway.proto` →
`bhytgate.v1.gateway_pb2`), but the package lives at `bhytgate_client.v1`; rather than mirror
that layout under proto/, the generated import lines are rewritten to the target's package.

Usage: ``python -m bhytgate.api.codegen [--check] [--out DIR [--package PKG]] [--proto-root DIR]``:
without --out, every target in TARGETS.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2

PROTO_FILES: tuple[str, ...] = ("bhytgate/v1/gateway.proto",)
"""Paths relative to the proto root, in the package layout protoc sees."""

OUT_PACKAGE = "bhytgate_client.v1"
"""Where the generated modules live as Python: the light client distribution, which must not depend
on the server's package. The server's `bhytgate.api.v1` re-exports them (one generated copy)."""

_REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PROTO_ROOT = _REPO_ROOT / "proto"
DEFAULT_OUT_DIR = _REPO_ROOT / "clients" / "sdk-python" / "src" / "bhytgate_client" / "v1"


@dataclasses.dataclass(frozen=True)
class Target:
    """One output of the proto: the Python package the modules are imported as, and its folder."""

    package: str
    out_dir: Path


TARGETS: tuple[Target, ...] = (Target(OUT_PACKAGE, DEFAULT_OUT_DIR),)

# `from bhytgate.v1 import gateway_pb2 as ...` (in *_grpc.py, and in *_pb2.py for cross-file imports)
_IMPORT_RE = re.compile(r"^from bhytgate\.v1 import ", re.MULTILINE)
_PYI_IMPORT_RE = re.compile(r"^(from|import) bhytgate\.v1\b", re.MULTILINE)


class CodegenError(RuntimeError):
    """protoc failed or produced unexpected output."""


def _well_known_include() -> Path:
    """grpc_tools ships google/protobuf/*.proto; protoc needs them on the include path."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


def _rewrite(text: str, package: str) -> str:
    text = _IMPORT_RE.sub(f"from {package} import ", text)
    return _PYI_IMPORT_RE.sub(lambda m: f"{m.group(1)} {package}", text)


def generate(
    out_dir: Path, proto_root: Path = DEFAULT_PROTO_ROOT, *, package: str = OUT_PACKAGE
) -> list[Path]:
    """Run protoc for PROTO_FILES and write the modules, imported as `package`, flat into `out_dir`."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # dev dependency, untyped

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="bhytgate-codegen-") as tmp:
        descriptor_set = Path(tmp) / "descriptor_set.pb"
        args = [
            "grpc_tools.protoc",
            f"--descriptor_set_out={descriptor_set}",
            f"-I{proto_root}",
            f"-I{_well_known_include()}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *PROTO_FILES,
        ]
        rc = protoc.main(args)
        if rc != 0:
            raise CodegenError(f"protoc exited with {rc} for {', '.join(PROTO_FILES)}")
        for proto in PROTO_FILES:
            stem = proto.removesuffix(".proto")
            for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
                src = Path(tmp) / f"{stem}{suffix}"
                if not src.is_file():
                    raise CodegenError(f"protoc did not produce {src.name}")
                dst = out_dir / src.name
                dst.write_text(_rewrite(src.read_text(encoding="utf-8"), package), encoding="utf-8")
                written.append(dst)
        fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
        for file in fds.file:
            if file.name in PROTO_FILES and file.service:
                stem = Path(file.name).stem
                dst = out_dir / f"{stem}_pb2_grpc.pyi"
                dst.write_text(grpc_stub_source(file, package), encoding="utf-8")
                written.append(dst)
    return written


def _py_type(file: descriptor_pb2.FileDescriptorProto, full_name: str) -> str:
    """`.bhytgate.v1.VerifyRequest` → `gateway_pb2.VerifyRequest` (messages of this file only)."""
    prefix = f".{file.package}."
    if not full_name.startswith(prefix):
        raise CodegenError(f"{full_name}: RPC types from other proto files are not supported")
    return f"{Path(file.name).stem}_pb2.{full_name.removeprefix(prefix)}"


def grpc_stub_source(file: descriptor_pb2.FileDescriptorProto, package: str = OUT_PACKAGE) -> str:
    """The typed interface of `<stem>_pb2_grpc.py` (unary and streaming RPCs)."""
    stem = Path(file.name).stem
    lines = [
        f"# Generated by bhytgate.api.codegen from {file.name}. DO NOT EDIT!",
        '"""Types for the grpc plugin\'s module. `*AsyncStub` exists only for type checking: it is',
        'what `*Stub(channel)` gives for a grpc.aio channel."""',
        "",
        "from collections.abc import AsyncIterator, Awaitable, Iterator",
        "from typing import Any, overload",
        "",
        "import grpc",
        "import grpc.aio",
        "",
        f"from {package} import {stem}_pb2",
        "",
        "GRPC_GENERATED_VERSION: str",
        "GRPC_VERSION: str",
    ]
    for service in file.service:
        name = service.name
        rpcs = []
        for method in service.method:
            kind = ("Stream" if method.client_streaming else "Unary") + (
                "Stream" if method.server_streaming else "Unary"
            )
            rpcs.append(
                (method.name, _py_type(file, method.input_type), _py_type(file, method.output_type), kind)
            )
        lines += [
            "",
            f"class {name}Stub:",
            "    @overload",
            f"    def __new__(cls, channel: grpc.aio.Channel) -> {name}AsyncStub: ...",
            "    @overload",
            f"    def __new__(cls, channel: grpc.Channel) -> {name}Stub: ...",
        ]
        lines += [f"    {m}: grpc.{k}MultiCallable[{req}, {resp}]" for m, req, resp, k in rpcs]
        lines += ["", f"class {name}AsyncStub({name}Stub):"]
        lines += [
            f"    {m}: grpc.aio.{k}MultiCallable[{req}, {resp}]  # type: ignore[assignment]"
            for m, req, resp, k in rpcs
        ]
        lines += ["", f"class {name}Servicer:"]
        for m, req, resp, k in rpcs:
            arg = f"request_iterator: AsyncIterator[{req}]" if k.startswith("Stream") else f"request: {req}"
            out = f"AsyncIterator[{resp}]" if k.endswith("Stream") else f"{resp} | Awaitable[{resp}]"
            lines.append(f"    def {m}(self, {arg}, context: Any) -> {out}: ...")
        lines += [
            "",
            f"def add_{name}Servicer_to_server(",
            f"    servicer: {name}Servicer, server: grpc.Server | grpc.aio.Server",
            ") -> None: ...",
            "",
            f"class {name}:",
        ]
        for m, req, resp, k in rpcs:
            arg = f"request_iterator: Iterator[{req}]" if k.startswith("Stream") else f"request: {req}"
            out = f"Iterator[{resp}]" if k.endswith("Stream") else resp
            lines += [
                "    @staticmethod",
                f"    def {m}({arg}, target: str, *args: Any, **kwargs: Any) -> {out}: ...",
            ]
    return "\n".join(lines) + "\n"


def stale_files(
    out_dir: Path = DEFAULT_OUT_DIR, proto_root: Path = DEFAULT_PROTO_ROOT, *, package: str = OUT_PACKAGE
) -> list[str]:
    """Names of generated files in `out_dir` that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory(prefix="bhytgate-codegen-check-") as tmp:
        stale: list[str] = []
        for fresh in generate(Path(tmp), proto_root, package=package):
            committed = out_dir / fresh.name
            if not committed.is_file() or committed.read_bytes() != fresh.read_bytes():
                stale.append(fresh.name)
        return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bhytgate.api.codegen",
        description="Regenerate bhytgate_client.v1 (re-exported as bhytgate.api.v1) from proto/.",
    )
    parser.add_argument("--out", type=Path, help="one output directory (default: every target)")
    parser.add_argument(
        "--package", default=OUT_PACKAGE, help=f"the package --out is imported as (default {OUT_PACKAGE})"
    )
    parser.add_argument("--proto-root", type=Path, default=DEFAULT_PROTO_ROOT, help="proto include root")
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    ns = parser.parse_args(argv)
    targets = TARGETS if ns.out is None else (Target(ns.package, ns.out),)
    if ns.check:
        stale = [
            target.out_dir / name
            for target in targets
            for name in stale_files(target.out_dir, ns.proto_root, package=target.package)
        ]
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for target in targets:
        for path in generate(target.out_dir, ns.proto_root, package=target.package):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

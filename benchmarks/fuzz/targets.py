"""One target per parser that takes outside bytes, and what counts as a crash for each.

A target's `setup(workdir)` imports what it fuzzes (inside `atheris.instrument_imports` when under
atheris, so nothing from bhytgate may be imported at module level here) and returns `one(data)`,
which calls the parser and swallows exactly the parser's documented typed errors (it returns a
short outcome label, "ok" or the typed error's reason, counted for the report). Anything else
escaping `one` is a crash; so is an input taking more than 1 s of CPU, and a process that passes
libFuzzer's RSS limit (unbounded memory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

One = Callable[[bytes], str | None]  # returns an outcome label, for the report
CHIP_AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
ML_AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CHALLENGE = bytes(range(32))
CHIP_FILES = ("EF.SOD", "DG1", "DG2", "DG13", "DG14", "DG15")


class UnexpectedOutcome(Exception):
    """A target-level crash that is not a Python exception of the parser (e.g. an INTERNAL status)."""


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    calls: str  # what one input goes through
    typed: str  # the documented typed errors (anything else is a crash)
    mutator: str  # "der" | "protobuf" | "image" | "qr" | "csv" | "jsonl"
    max_len: int
    setup: Callable[[Path], One]
    instrument: tuple[str, ...] = ("bhytgate", "asn1crypto")
    weight: float = 1.0  # share of the campaign's time


# --- chip parsers --------------------------------------------------------------------------------


def _chip_parser(name: str) -> Callable[[Path], One]:
    def setup(workdir: Path) -> One:
        from bhytgate.chip import ChipError
        from bhytgate.chip.lds.dg2 import parse_dg2
        from bhytgate.chip.lds.dg13 import parse_dg13
        from bhytgate.chip.lds.mrz import parse_dg1
        from bhytgate.chip.lds.security import parse_dg14, parse_dg15
        from bhytgate.chip.lds.sod import parse_sod

        parser: Callable[[bytes], Any] = {
            "sod": parse_sod,
            "dg1": lambda data: parse_dg1(data, today=CHIP_AT.date()),
            "dg2": parse_dg2,
            "dg13": lambda data: parse_dg13(data).as_dict(),
            "dg14": parse_dg14,
            "dg15": parse_dg15,
        }[name]

        def one(data: bytes) -> str | None:
            try:
                parser(data)
            except ChipError as exc:
                return exc.reason
            return "ok"

        return one

    return setup


def _certificate(workdir: Path) -> One:
    from bhytgate.chip import ChipError
    from bhytgate.chip.crypto.x509 import load_certificate

    def one(data: bytes) -> str | None:
        try:
            cert = load_certificate(data)
            cert.valid_at(CHIP_AT)
            _ = cert.self_issued, cert.country
            key = cert.public_key  # SubjectPublicKeyInfo, explicit EC parameters included
            cert.verify_issued_by(key)  # the signature AlgorithmIdentifier and value
        except ChipError as exc:
            return exc.reason
        return "ok"

    return one


def _crl(workdir: Path) -> One:
    from bhytgate.chip import ChipError
    from bhytgate.chip.crypto.x509 import load_certificate, load_crl

    issuers = [
        load_certificate(p.read_bytes()).public_key
        for p in sorted((workdir / "assets" / "demo" / "pki" / "csca").glob("*.der"))
    ]

    def one(data: bytes) -> str | None:
        try:
            crl = load_crl(data)
            crl.stale_at(CHIP_AT)
        except ChipError as exc:
            return exc.reason
        outcome = "parsed"
        for key in issuers:
            try:
                crl.verify_issued_by(key)
                outcome = "signature_valid"
            except ChipError:
                pass
        return outcome

    return one


def _master_list_store(workdir: Path) -> Callable[[], Any]:
    from benchmarks.fuzz.seeds import SHARED
    from bhytgate.chip import TrustStore
    from bhytgate.chip.crypto.x509 import load_certificate

    anchors = [
        load_certificate((workdir / "assets" / "mlpki" / "ml-csca.der").read_bytes()),
        load_certificate((SHARED / "emrtd" / "trust" / "DE_ROOT_CA_CSCA07.cer").read_bytes()),
    ]

    def fresh() -> Any:
        store = TrustStore()  # one per input: a successful load must not grow a shared store
        for cert in anchors:
            store.add_certificate(cert)
        return store

    return fresh


def _master_list(workdir: Path) -> One:
    from bhytgate.chip import ChipError

    fresh = _master_list_store(workdir)

    def one(data: bytes) -> str | None:
        try:
            added = fresh().add_master_list(data, at=ML_AT)
        except ChipError as exc:
            return exc.reason
        return "loaded" if added else "loaded_empty"

    return one


def _master_list_content(workdir: Path) -> One:
    """The bytes are the CscaMasterList (eContent), signed here, so every input passes the signature
    check and reaches the certificate-list parsing and the per-certificate loading behind it."""
    from benchmarks.fuzz.seeds import sign_master_list
    from bhytgate.chip import ChipError
    from bhytgate_clients.cardlab import crypto

    fresh = _master_list_store(workdir)
    signer = (workdir / "assets" / "mlpki" / "ml-signer.der").read_bytes()
    key = crypto.load_key(workdir / "assets" / "mlpki" / "ml-signer.key.pem")

    def one(data: bytes) -> str | None:
        signed = sign_master_list(data, signer, key)
        try:
            added = fresh().add_master_list(signed, at=ML_AT)
        except ChipError as exc:
            return exc.reason
        return "loaded" if added else "loaded_empty"

    return one


def _verify_chip(workdir: Path) -> One:
    """data[0] picks a base dump, data[1] which file the rest replaces (6: the four AA answers);
    then the whole of `verify_chip` (both authentications, every parser) and the report's JSON."""
    from bhytgate.chip import ChipError, TrustStore, dump_from_files, verify_chip

    demo = workdir / "assets" / "demo" / "pki"
    store = TrustStore.from_paths(cscas=[demo / "trust"], crls=[demo / "crl"], at=CHIP_AT)
    bases = json.loads((workdir / "assets" / "verify_chip.json").read_text(encoding="utf-8"))
    prepared = [
        ({k: bytes.fromhex(v) for k, v in b["files"].items()}, [bytes.fromhex(s) for s in b["signatures"]])
        for b in bases
    ]

    def one(data: bytes) -> str | None:
        if len(data) < 2:
            return None
        files, signatures = prepared[data[0] % len(prepared)]
        files = dict(files)
        which = data[1] % (len(CHIP_FILES) + 1)
        body = data[2:]
        if which == len(CHIP_FILES):
            quarter = max(1, len(body) // 4)
            signatures = [body[i * quarter : (i + 1) * quarter] for i in range(4)]
        elif body:
            files[CHIP_FILES[which]] = body
        else:
            files.pop(CHIP_FILES[which], None)
        try:
            dump = dump_from_files(files)
            report = verify_chip(dump, store, at=CHIP_AT, challenge=CHALLENGE, aa_signatures=signatures)
            json.dumps(report.to_json())
        except ChipError as exc:
            return f"raised:{exc.reason}"
        if report.valid:
            return "valid"
        return (
            "passive:"
            + (report.passive.reasons[0] if report.passive.reasons else "ok")
            + ("/active:" + str(report.active.reason) if report.active is not None else "")
        )

    return one


# --- QR, entitlements, images --------------------------------------------------------------------


def _qr(workdir: Path) -> One:
    from bhytgate.entitlement.qr import QrFormatError, parse_bhyt_qr, parse_cccd_qr

    def one(data: bytes) -> str | None:
        text = data.decode("utf-8", "replace")  # what a protobuf string can carry
        outcome = []
        for parser in (parse_cccd_qr, parse_bhyt_qr):
            try:
                parser(text)
                outcome.append("ok")
            except QrFormatError as exc:
                outcome.append(exc.field)
        return "cccd:{}/bhyt:{}".format(*outcome)

    return one


def _importer(fmt: str) -> Callable[[Path], One]:
    def setup(workdir: Path) -> One:
        from bhytgate.entitlement.benefit import BenefitPolicy
        from bhytgate.entitlement.importer import parse_entitlements

        policy = BenefitPolicy.default()

        def one(data: bytes) -> str | None:
            # Row errors are the importer's typed outcome (returned, never raised): nothing may raise.
            parse_entitlements(data, fmt)
            records, errors = parse_entitlements(data, fmt, policy=policy)
            return f"records:{min(len(records), 3)}/errors:{'yes' if errors else 'no'}"

        return one

    return setup


def _image(workdir: Path) -> One:
    from bhytgate.face import FaceConfig
    from bhytgate.face.decode import declared_size, decode_image
    from bhytgate.face.errors import ImageError

    config = FaceConfig()  # the gateway's own budgets: 10 MiB, 24 Mpx

    def one(data: bytes) -> str | None:
        # The servicer's header reader (main process, no decoder) sees every frame first.
        with contextlib.suppress(ImageError):
            declared_size(data)
        try:
            decoded = decode_image(data, max_bytes=config.max_image_bytes, max_pixels=config.max_image_pixels)
        except ImageError as exc:
            return exc.reason
        return f"decoded:{decoded.format}"

    return one


# --- gRPC requests -------------------------------------------------------------------------------


class _Aborted(Exception):
    def __init__(self, code: Any, details: str) -> None:
        super().__init__(details)
        self.code = code


class _Context:
    """Stands in for grpc.aio.ServicerContext: the servicer uses only these four methods."""

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def time_remaining(self) -> float:
        return 10.0

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def abort(self, code: Any, details: str = "", trailing_metadata: Any = ()) -> None:
        raise _Aborted(code, details)


class _LastError(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def _grpc(workdir: Path) -> One:
    """data[0] picks the RPC; the rest is its body. The body goes through the deserializer that
    `service/wire.py` registers for that RPC (size limit, then FromString or RefusedRequest), then
    through the servicer method (its `_rpc` wrapper and field validation) with a stand-in context in
    plaintext mode and a gateway stub whose every method raises FailedPrecondition: a request that
    passes validation ends there. Crash: INTERNAL, or any exception other than the abort."""
    import grpc

    from benchmarks.fuzz.seeds import GRPC_METHODS
    from bhytgate.service.admin_servicer import AdminServicer
    from bhytgate.service.config import GatewayConfig
    from bhytgate.service.counter_rpcs import CounterServicer
    from bhytgate.service.model import FailedPrecondition
    from bhytgate.service.verification_servicer import VerificationServicer
    from bhytgate.service.wire import RefusedRequest, RequestLimits, _handlers

    class StubGateway:
        def __getattr__(self, name: str) -> Any:
            if name == "jwks":
                return lambda: '{"keys": []}'
            if name in ("household", "privacy"):  # sub-services the issue-15 RPCs call
                return StubGateway()

            async def refuse(*args: Any, **kwargs: Any) -> Any:
                raise FailedPrecondition(f"fuzz stub: {name} reached")

            return refuse

    config = GatewayConfig(home=workdir / "home", plaintext=True, workers=1)
    limits = RequestLimits.from_config(config)
    gateway: Any = StubGateway()
    handlers: dict[str, Any] = {}
    for cls, service in (
        (VerificationServicer, "VerificationService"),
        (CounterServicer, "CounterService"),
        (AdminServicer, "AdminService"),
    ):
        handlers.update(_handlers(cls(gateway, config), service, limits))
    methods = [handlers[m] for m in GRPC_METHODS]
    errors = _LastError()
    logging.getLogger("bhytgate.servicer").addHandler(errors)
    logging.getLogger("bhytgate.servicer").propagate = False
    context = _Context()
    allowed = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION}

    def one(data: bytes) -> str | None:
        if not data:
            return None
        index = data[0] % len(methods)
        handler = methods[index]
        request = handler.request_deserializer(data[1:])
        parsed = "refused" if isinstance(request, RefusedRequest) else "parsed"
        coroutine = handler.unary_unary(request, context)
        try:
            coroutine.send(None)
        except StopIteration as done:
            handler.response_serializer(done.value)
            return f"{GRPC_METHODS[index]}:{parsed}:OK"
        except _Aborted as aborted:
            if aborted.code not in allowed:
                raise UnexpectedOutcome(f"{aborted.code.name}: {aborted} ({errors.last})") from None
            return f"{GRPC_METHODS[index]}:{parsed}:{aborted.code.name}"
        coroutine.close()
        raise UnexpectedOutcome("servicer suspended on a stub that never waits")

    return one


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("sod", "chip.lds.sod.parse_sod", "ChipError", "der", 16384, _chip_parser("sod")),
        Target("dg1", "chip.lds.mrz.parse_dg1", "ChipError", "der", 1024, _chip_parser("dg1"), weight=0.6),
        Target("dg2", "chip.lds.dg2.parse_dg2", "ChipError", "der", 65536, _chip_parser("dg2")),
        Target("dg13", "chip.lds.dg13.parse_dg13 + as_dict", "ChipError", "der", 4096, _chip_parser("dg13")),
        Target(
            "dg14",
            "chip.lds.security.parse_dg14 (CA keys loaded)",
            "ChipError",
            "der",
            4096,
            _chip_parser("dg14"),
        ),
        Target(
            "dg15",
            "chip.lds.security.parse_dg15 (key loaded)",
            "ChipError",
            "der",
            4096,
            _chip_parser("dg15"),
        ),
        Target(
            "certificate",
            "chip.crypto.x509.load_certificate + public_key + self-signature check",
            "ChipError",
            "der",
            8192,
            _certificate,
            weight=1.3,
        ),
        Target(
            "crl", "chip.crypto.x509.load_crl + signature check (lab CSCAs)", "ChipError", "der", 65536, _crl
        ),
        Target(
            "master_list",
            "TrustStore.add_master_list (whole signed file)",
            "ChipError (TrustStoreError, ChipFormatError)",
            "der",
            1 << 20,
            _master_list,
        ),
        Target(
            "master_list_content",
            "TrustStore.add_master_list over the bytes as CscaMasterList, validly signed",
            "ChipError",
            "der",
            32768,
            _master_list_content,
        ),
        Target(
            "verify_chip",
            "dump_from_files + chip.verify_chip (PA, AA) + report JSON, one file replaced",
            "ChipError",
            "der",
            65536,
            _verify_chip,
            weight=1.5,
        ),
        Target(
            "qr",
            "entitlement.qr.parse_cccd_qr + parse_bhyt_qr",
            "QrFormatError",
            "qr",
            8192,
            _qr,
            ("bhytgate",),
        ),
        Target(
            "import_csv",
            "entitlement.importer.parse_entitlements(csv), with and without the benefit policy",
            "none raised: row errors are returned",
            "csv",
            16384,
            _importer("csv"),
            ("bhytgate",),
        ),
        Target(
            "import_jsonl",
            "entitlement.importer.parse_entitlements(jsonl), with and without the benefit policy",
            "none raised: row errors are returned",
            "jsonl",
            16384,
            _importer("jsonl"),
            ("bhytgate",),
        ),
        Target(
            "image",
            "face.decode.decode_image (10 MiB, 24 Mpx budgets)",
            "ImageError (ImageEmpty, ImageTooLarge, ImageTruncated, ImageCorrupt, UnsupportedFormat)",
            "image",
            65536,
            _image,
            ("bhytgate.face.decode", "PIL"),
            weight=1.5,
        ),
        Target(
            "grpc",
            "wire.py deserializer of each of the 16 RPCs, then the servicer's _rpc wrapper and validation",
            "RefusedRequest / InvalidRequest -> INVALID_ARGUMENT; FAILED_PRECONDITION from the stub",
            "protobuf",
            131072,
            _grpc,
            ("bhytgate",),
            weight=1.5,
        ),
    )
}

# Time shares: more for the deep chip targets, less for the text parsers that saturate in seconds.
for _name, _weight in {
    "qr": 0.5,
    "import_csv": 0.8,
    "import_jsonl": 0.8,
    "sod": 1.3,
    "master_list_content": 1.2,
}.items():
    TARGETS[_name] = dataclasses.replace(TARGETS[_name], weight=_weight)

"""Dev PKI: identity in client certificates, file permissions, and real mTLS over grpc.aio."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bhytgate.pki import (
    AmbiguousTerminalUriError,
    CertificateParseError,
    InvalidTerminalFieldError,
    MissingTerminalUriError,
    SubjectMismatchError,
    TerminalIdentity,
    TerminalIdentityError,
    TerminalRole,
    channel_credentials,
    create_ca,
    identity_from_auth_context,
    issue_terminal_cert,
    parse_terminal_identity,
    server_credentials,
    write_dev_pki,
)
from bhytgate.policy import TerminalKind

DESK = TerminalIdentity("desk-01", "01001", TerminalRole.HOSPITAL_CHECKIN, TerminalKind.DESK)
KIOSK = TerminalIdentity("kiosk.7", "79014", TerminalRole.COUNTER, TerminalKind.KIOSK)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_identity_roundtrip() -> None:
    ca = create_ca()
    for ident in (DESK, KIOSK):
        _, cert = issue_terminal_cert(ca, ident)
        assert parse_terminal_identity(der(cert)) == ident
    assert DESK.uri == "urn:bhytgate:terminal:desk-01?kind=desk&facility=01001&role=hospital-checkin"


@pytest.mark.parametrize(
    ("args", "err"),
    [
        (("../etc", "01001", "admin", "desk"), InvalidTerminalFieldError),
        (("", "01001", "admin", "desk"), InvalidTerminalFieldError),
        (("t1", "1001", "admin", "desk"), InvalidTerminalFieldError),
        (("t1", "01001", "root", "desk"), InvalidTerminalFieldError),
        (("t1", "01001", "admin", "drone"), InvalidTerminalFieldError),
    ],
)
def test_identity_validation(args: tuple[str, str, str, str], err: type[Exception]) -> None:
    with pytest.raises(err):
        TerminalIdentity(*args)  # type: ignore[arg-type]


def _custom_cert(subject: dict[x509.ObjectIdentifier, str], uris: list[str]) -> bytes:
    ca_key, ca_cert = create_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(oid, v) for oid, v in subject.items()]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if uris:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False
        )
    return der(b.sign(ca_key, hashes.SHA256()))


SUBJ = {
    NameOID.COMMON_NAME: "desk-01",
    NameOID.ORGANIZATION_NAME: "01001",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "hospital-checkin",
}


@pytest.mark.parametrize(
    ("subject", "uris", "err"),
    [
        (SUBJ, [], MissingTerminalUriError),
        (SUBJ, ["https://example.org/"], MissingTerminalUriError),
        (SUBJ, [DESK.uri, KIOSK.uri], AmbiguousTerminalUriError),
        ({**SUBJ, NameOID.COMMON_NAME: "desk-02"}, [DESK.uri], SubjectMismatchError),
        ({**SUBJ, NameOID.ORGANIZATIONAL_UNIT_NAME: "admin"}, [DESK.uri], SubjectMismatchError),
        ({NameOID.COMMON_NAME: "desk-01"}, [DESK.uri], SubjectMismatchError),
        (SUBJ, ["urn:bhytgate:terminal:desk-01"], InvalidTerminalFieldError),
        (SUBJ, ["urn:bhytgate:terminal:desk-01?kind=desk&facility=01001"], InvalidTerminalFieldError),
        (SUBJ, [DESK.uri + "&kind=kiosk"], InvalidTerminalFieldError),
        (SUBJ, [DESK.uri.replace("kind=desk", "kind=drone")], InvalidTerminalFieldError),
        (SUBJ, [DESK.uri.replace("desk-01?", "../x?")], InvalidTerminalFieldError),
    ],
)
def test_parse_errors(
    subject: dict[x509.ObjectIdentifier, str], uris: list[str], err: type[Exception]
) -> None:
    with pytest.raises(err):
        parse_terminal_identity(_custom_cert(subject, uris))


def test_not_a_certificate() -> None:
    with pytest.raises(CertificateParseError):
        parse_terminal_identity(b"\x30\x03\x02\x01\x00")
    assert issubclass(CertificateParseError, TerminalIdentityError)


def test_written_files_and_permissions(tmp_path: Path) -> None:
    layout = write_dev_pki(tmp_path / "pki", [DESK, KIOSK])
    for key_path in (
        layout.ca_key,
        layout.server_key,
        layout.terminal_key("desk-01"),
        layout.terminal_key("kiosk.7"),
    ):
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600, key_path
    server = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    term = x509.load_pem_x509_certificate(layout.terminal_cert("kiosk.7").read_bytes())
    assert parse_terminal_identity(der(term)) == KIOSK


# -- real mTLS ---------------------------------------------------------------------------------------


async def _whoami(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    ident = identity_from_auth_context(context.auth_context())
    return f"{ident.terminal_id}|{ident.facility}|{ident.role}|{ident.kind}".encode()


async def _run_mtls(pki: Path, clients: dict[str, grpc.ChannelCredentials]) -> dict[str, str]:
    server = grpc.aio.server()
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Whoami", {"Get": grpc.unary_unary_rpc_method_handler(_whoami)}
            )
        ]
    )
    port = server.add_secure_port("127.0.0.1:0", server_credentials(pki))
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    results: dict[str, str] = {}
    try:
        for name, creds in clients.items():
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
                try:
                    resp = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=5
                    )
                    who = await channel.unary_unary("/test.Whoami/Get")(b"", timeout=5)  # type: ignore[call-arg]
                    results[name] = (
                        f"{health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)} {who.decode()}"
                    )
                except grpc.aio.AioRpcError as exc:
                    results[name] = f"refused {exc.code().name}"
    finally:
        await server.stop(None)
    return results


def test_mtls_accepts_terminals_and_refuses_others(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    write_dev_pki(pki, [DESK])
    rogue = tmp_path / "rogue"
    write_dev_pki(rogue, [DESK])  # same terminal name, different CA
    ca_pem = (pki / "ca.pem").read_bytes()
    rogue_cert = (rogue / "terminals" / "desk-01.pem").read_bytes()
    rogue_key = (rogue / "terminals" / "desk-01.key").read_bytes()
    clients = {
        "valid": channel_credentials(pki, "desk-01"),
        "no_cert": grpc.ssl_channel_credentials(root_certificates=ca_pem),
        "other_ca": grpc.ssl_channel_credentials(
            root_certificates=ca_pem, private_key=rogue_key, certificate_chain=rogue_cert
        ),
    }
    results = asyncio.run(_run_mtls(pki, clients))
    assert results["valid"] == "SERVING desk-01|01001|hospital-checkin|desk"
    assert results["no_cert"].startswith("refused")
    assert results["other_ca"].startswith("refused")

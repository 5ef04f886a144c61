"""Revoking a terminal's client certificate, over the real gRPC socket and the console's HTTPS:
an admin revokes one certificate of its own facility, calls made with it are UNAUTHENTICATED from
then on (gRPC and console), a new certificate for the same terminal works, and the revocation
leaves one audit record. Each test issues certificates of its own from the deployment's CA, so
the shared terminals keep theirs."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.pki.devca import PkiLayout, TerminalIdentity, add_terminal, issue_terminal_cert, load_ca
from bhytgate_clients.sdk import GatewayError

from .conftest import Deployment


def _issue(
    d: Deployment,
    terminal_id: str,
    facility: str = "01001",
    role: str = "hospital-checkin",
    kind: str = "kiosk",
) -> bytes:
    """A fresh certificate for `terminal_id` in the dev PKI folder (replacing one issued before)."""
    identity = TerminalIdentity(terminal_id, facility, role, kind)  # type: ignore[arg-type]
    cert_path, _ = add_terminal(d.home / "pki", identity)
    return cert_path.read_bytes()


def _begin_code(d: Deployment, terminal_id: str) -> str | None:
    """The status of a BeginVerification made with the terminal's current certificate."""
    try:
        with d.client(terminal_id) as client:
            client.begin(terminal_kind="kiosk")
    except GatewayError as exc:
        return exc.code
    return None


def _error(fn: object) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        fn()  # type: ignore[operator]
    return info.value


def test_a_revoked_certificate_is_refused_and_its_replacement_works(deployment: Deployment) -> None:
    d = deployment
    first = _issue(d, "lost-kiosk-01")
    assert _begin_code(d, "lost-kiosk-01") is None
    digest = x509.load_pem_x509_certificate(first).fingerprint(hashes.SHA256()).hex()
    store = d.running.gateway.store
    with d.client("admin-01") as admin:
        revoked = admin.revoke_certificate(first, "device_lost")
        assert (revoked.certificate_sha256, revoked.terminal_id) == (digest, "lost-kiosk-01")
        assert not revoked.already_revoked
        # Refused at once on this replica: UNAUTHENTICATED, saying why.
        try:
            with d.client("lost-kiosk-01") as kiosk:
                kiosk.begin(terminal_kind="kiosk")
            pytest.fail("a revoked certificate was accepted")
        except GatewayError as exc:
            assert exc.code == "UNAUTHENTICATED"
            assert "revoked" in exc.message
        # Every RPC, the public keys' too.
        with d.client("lost-kiosk-01") as kiosk:
            assert _error(kiosk.attestation_keys).code == "UNAUTHENTICATED"
        # Again: the first revocation stands, unchanged.
        again = admin.revoke_certificate(first, "key_compromise")
        assert again.already_revoked
        assert again.revoke_time == revoked.revoke_time
        assert again.reason == revoked.reason
    # The same terminal with a new certificate is served.
    _issue(d, "lost-kiosk-01")
    assert _begin_code(d, "lost-kiosk-01") is None
    records = [json.loads(e.body) for e in store.iter_audit() if "CERTIFICATE_REVOKED" in e.body]
    mine = [r for r in records if "lost-kiosk-01" in json.dumps(r)]
    assert len(mine) == 1, mine  # the second revocation changed nothing and wrote nothing


def test_an_admin_revokes_only_its_own_facilitys_certificates(deployment: Deployment) -> None:
    d = deployment
    _key, cert = issue_terminal_cert(
        load_ca(d.home / "pki"),
        TerminalIdentity("other-desk", "79014", "hospital-checkin", "desk"),  # type: ignore[arg-type]
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with d.client("admin-01") as admin:
        error = _error(lambda: admin.revoke_certificate(pem, "device_lost"))
    assert error.code == "PERMISSION_DENIED"
    assert "79014" in error.message
    assert not d.running.gateway.revoked.is_revoked(cert.fingerprint(hashes.SHA256()).hex())


@pytest.mark.parametrize(
    ("upload", "reason", "field"),
    [
        (b"", "device_lost", "certificate"),
        (b"not a certificate", "device_lost", "certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "device_lost", "certificate"),
        (b"\x30" * 17000, "device_lost", "certificate"),
        ("ca", "device_lost", "certificate"),  # the CA's own certificate names no terminal
        ("terminal", "", "reason"),
    ],
)
def test_a_bad_revocation_request_is_invalid_argument_naming_the_field(
    deployment: Deployment, upload: bytes | str, reason: str, field: str
) -> None:
    d = deployment
    if upload == "ca":
        upload = PkiLayout(d.home / "pki").ca_cert.read_bytes()
    elif upload == "terminal":
        upload = _issue(d, "reasonless-kiosk")
    assert isinstance(upload, bytes)
    with d.client("admin-01") as admin:
        request = pb.RevokeTerminalCertificateRequest(
            certificate=upload,
            reason=pb.REVOCATION_REASON_DEVICE_LOST if reason else pb.REVOCATION_REASON_UNSPECIFIED,
        )
        error = _error(lambda: admin._call(admin.admin.RevokeTerminalCertificate, request))
    assert error.code == "INVALID_ARGUMENT", error
    assert field in [v.field for v in error.violations], error.violations


def test_only_an_admin_revokes(deployment: Deployment) -> None:
    d = deployment
    pem = _issue(d, "kept-kiosk")
    for terminal in ("desk-01", "auditor-01"):
        with d.client(terminal) as client:
            error = _error(lambda: client.revoke_certificate(pem, "device_lost"))
        assert error.code == "PERMISSION_DENIED"
    assert _begin_code(d, "kept-kiosk") is None


def _console_status(d: Deployment, terminal: str) -> tuple[int, str]:
    console = d.running.console
    assert console is not None
    layout = PkiLayout(d.home / "pki")
    ctx = ssl.create_default_context(cafile=str(layout.ca_cert))
    ctx.load_cert_chain(str(layout.terminal_cert(terminal)), str(layout.terminal_key(terminal)))
    conn = http.client.HTTPSConnection("127.0.0.1", console.port, context=ctx, timeout=30)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8")
    finally:
        conn.close()


def test_a_revoked_officer_certificate_is_refused_by_the_console(deployment: Deployment) -> None:
    d = deployment
    pem = _issue(d, "leaving-officer", role="reviewer", kind="desk")
    assert _console_status(d, "leaving-officer")[0] == 200
    with d.client("admin-01") as admin:
        admin.revoke_certificate(pem, "cessation_of_operation")
    status, body = _console_status(d, "leaving-officer")
    assert status == 401 and "revoked" in body


def test_the_cli_revokes_a_certificate_file(deployment: Deployment) -> None:
    from click.testing import CliRunner

    from bhytgate_clients.cli.admin import admin

    d = deployment
    pem = _issue(d, "cli-kiosk")
    path = PkiLayout(d.home / "pki").terminal_cert("cli-kiosk")
    args = ["revoke", str(path), "--reason", "superseded", "--home", str(d.home)]
    done = CliRunner().invoke(admin, args)
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
    assert out["certificate_sha256"] == digest and out["terminal_id"] == "cli-kiosk"
    assert not out["already_revoked"]
    assert _begin_code(d, "cli-kiosk") == "UNAUTHENTICATED"
    bad = CliRunner().invoke(admin, ["revoke", str(path), "--reason", "lost", "--home", str(d.home)])
    assert bad.exit_code == 2 and "lost" in bad.output  # click names the invalid choice


def test_a_claims_stream_stops_when_its_certificate_is_revoked(deployment: Deployment) -> None:
    """Review 2026-12-02: ReconcileClaims checked the certificate when the stream began only: one
    opened before a revocation went on reading claims and answering dossiers for as long as its
    sender kept it open. Each message is now checked, as every unary call is."""
    import datetime as dt
    from collections.abc import Iterator

    import grpc

    from .test_claims_e2e import Visit, claims_bytes

    d = deployment
    pem = _issue(d, "leaving-admin", role="admin", kind="desk")
    data = claims_bytes(
        "01001", [Visit("LK9", "079200000123", "DN4790000012345", dt.datetime.now(dt.UTC), "01001")]
    )

    def chunks() -> Iterator[pb.ReconcileClaimsRequest]:
        yield pb.ReconcileClaimsRequest(chunk=data[:100])
        with d.client("admin-01") as admin:
            admin.revoke_certificate(pem, "cessation_of_operation")
        yield pb.ReconcileClaimsRequest(chunk=data[100:])

    with d.client("leaving-admin") as client, pytest.raises(grpc.RpcError) as refused:
        list(client.admin.ReconcileClaims(chunks(), timeout=60))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (refused.value.details() or "")

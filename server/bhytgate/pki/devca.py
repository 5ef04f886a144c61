"""Development PKI for mutual TLS: a local CA, the gateway's server certificate, terminal client certificates.

Where a terminal's identity lives (the ONE canonical place): a single SAN URI

    urn:bhytgate:terminal:<terminal_id>?kind=<desk|kiosk|phone>&facility=<5 digits>&role=<role>

`parse_terminal_identity` reads the identity from that URI only. The subject (CN = terminal id,
O = facility, OU = role) mirrors it for people and log tools, and must agree with the URI: a certificate
whose subject says something else is refused rather than interpreted.

The parser does not check the chain: call it only on a certificate the TLS layer has already verified
against the CA (with `require_client_auth=True`, gRPC does this before any handler runs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import ipaddress
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bhytgate import ids
from bhytgate.policy.model import TerminalKind

URI_PREFIX = "urn:bhytgate:terminal:"
# Shared ASCII patterns, used with fullmatch: `$` with match let "desk-01\n" through.
_TERMINAL_ID_RE = ids.TERMINAL_ID_RE
_FACILITY_RE = ids.FACILITY_RE


class TerminalRole(enum.StrEnum):
    HOSPITAL_CHECKIN = "hospital-checkin"
    COUNTER = "counter"
    ADMIN = "admin"
    REVIEWER = "reviewer"  # resolves review cases of its facility (or province: code ending 000)
    # The fund's national level (BHXH Việt Nam's assessors): reads check-in records and reconciles
    # claims files of every facility. An `admin` does both for its own facility only.
    AUDITOR = "auditor"


class TerminalIdentityError(ValueError):
    """Base: the peer certificate does not name a terminal we can trust."""


class CertificateParseError(TerminalIdentityError):
    """Not a DER X.509 certificate."""


class MissingTerminalUriError(TerminalIdentityError):
    """No `urn:bhytgate:terminal:` SAN URI."""


class AmbiguousTerminalUriError(TerminalIdentityError):
    """More than one terminal URI: which one would be meant is not ours to guess."""


class InvalidTerminalFieldError(TerminalIdentityError):
    """A field is missing, repeated or malformed (id, kind, facility, role)."""


class SubjectMismatchError(TerminalIdentityError):
    """Subject CN/O/OU disagree with the canonical URI."""


@dataclasses.dataclass(frozen=True, slots=True)
class TerminalIdentity:
    terminal_id: str
    facility: str  # maCSKCB-like 5 digits
    role: TerminalRole
    kind: TerminalKind

    def __post_init__(self) -> None:
        if not _TERMINAL_ID_RE.fullmatch(self.terminal_id):
            raise InvalidTerminalFieldError(
                "terminal id must be 1-64 of [A-Za-z0-9._-], not starting with . - _"
            )
        if not _FACILITY_RE.fullmatch(self.facility):
            raise InvalidTerminalFieldError("facility must be 5 digits")
        try:
            object.__setattr__(self, "role", TerminalRole(self.role))
            object.__setattr__(self, "kind", TerminalKind(self.kind))
        except ValueError as exc:
            raise InvalidTerminalFieldError(str(exc)) from None

    @property
    def uri(self) -> str:
        query = urllib.parse.urlencode(
            {"kind": self.kind.value, "facility": self.facility, "role": self.role.value}
        )
        return f"{URI_PREFIX}{self.terminal_id}?{query}"


# -- parsing ---------------------------------------------------------------------------------------


def _identity_from_uri(uri: str) -> TerminalIdentity:
    rest = uri[len(URI_PREFIX) :]
    terminal_id, sep, query = rest.partition("?")
    if not sep:
        raise InvalidTerminalFieldError("terminal URI has no query")
    try:
        fields = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise InvalidTerminalFieldError("terminal URI query is malformed") from exc
    if set(fields) != {"kind", "facility", "role"} or any(len(v) != 1 for v in fields.values()):
        raise InvalidTerminalFieldError("terminal URI needs exactly kind, facility and role, once each")
    return TerminalIdentity(terminal_id, fields["facility"][0], fields["role"][0], fields["kind"][0])  # type: ignore[arg-type]


def _single_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else None


def identity_from_certificate(cert: x509.Certificate) -> TerminalIdentity:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise MissingTerminalUriError("certificate has no subjectAltName") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(URI_PREFIX)]
    if not uris:
        raise MissingTerminalUriError("no terminal URI in subjectAltName")
    if len(uris) > 1:
        raise AmbiguousTerminalUriError("more than one terminal URI")
    ident = _identity_from_uri(uris[0])
    subject = cert.subject
    mirrored = (
        _single_attr(subject, NameOID.COMMON_NAME),
        _single_attr(subject, NameOID.ORGANIZATION_NAME),
        _single_attr(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
    )
    if mirrored != (ident.terminal_id, ident.facility, ident.role.value):
        raise SubjectMismatchError("subject CN/O/OU do not match the terminal URI")
    return ident


def parse_terminal_identity(cert_der: bytes) -> TerminalIdentity:
    """Identity of a TLS-verified client certificate (DER). Raises a `TerminalIdentityError`."""
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError as exc:
        raise CertificateParseError("not a DER certificate") from exc
    return identity_from_certificate(cert)


def parse_terminal_identity_pem(cert_pem: bytes) -> TerminalIdentity:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateParseError("not a PEM certificate") from exc
    return identity_from_certificate(cert)


def peer_certificate(auth_context: Mapping[str, Iterable[bytes]]) -> x509.Certificate:
    """The client certificate of a gRPC call over mTLS (`context.auth_context()`, key
    `x509_pem_cert`), which TLS has verified against the terminal CA."""
    pems = list(auth_context.get("x509_pem_cert") or [])
    if len(pems) != 1:
        raise MissingTerminalUriError("no single peer certificate in the auth context")
    try:
        return x509.load_pem_x509_certificate(pems[0])
    except ValueError as exc:
        raise CertificateParseError("not a PEM certificate") from exc


def identity_from_auth_context(auth_context: Mapping[str, Iterable[bytes]]) -> TerminalIdentity:
    """From `context.auth_context()` of a gRPC call over mTLS (key `x509_pem_cert`)."""
    return identity_from_certificate(peer_certificate(auth_context))


# -- issuing ---------------------------------------------------------------------------------------

KeyAndCert = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_ca(common_name: str = "bhytgate dev CA", *, days: int = 3650) -> KeyAndCert:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca: KeyAndCert, subject: x509.Name, san: list[x509.GeneralName], eku: x509.ObjectIdentifier, days: int
) -> KeyAndCert:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def issue_server_cert(
    ca: KeyAndCert, hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"), *, days: int = 825
) -> KeyAndCert:
    san: list[x509.GeneralName] = []
    for host in hosts:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            san.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "bhytgate")])
    return _leaf(ca, subject, san, ExtendedKeyUsageOID.SERVER_AUTH, days)


def issue_terminal_cert(ca: KeyAndCert, identity: TerminalIdentity, *, days: int = 365) -> KeyAndCert:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, identity.terminal_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, identity.facility),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.role.value),
        ]
    )
    san: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
    return _leaf(ca, subject, san, ExtendedKeyUsageOID.CLIENT_AUTH, days)


# -- files -----------------------------------------------------------------------------------------


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Created 0600 from the start (O_CREAT mode), and re-chmodded in case the file already existed."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@dataclasses.dataclass(frozen=True, slots=True)
class PkiLayout:
    """Where `write_dev_pki` puts things: one directory, fixed names."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    def terminal_cert(self, terminal_id: str) -> Path:
        return self.root / "terminals" / f"{_checked_id(terminal_id)}.pem"

    def terminal_key(self, terminal_id: str) -> Path:
        return self.root / "terminals" / f"{_checked_id(terminal_id)}.key"


def _checked_id(terminal_id: str) -> str:
    if not _TERMINAL_ID_RE.fullmatch(terminal_id):
        raise InvalidTerminalFieldError("bad terminal id")
    return terminal_id


def write_dev_pki(
    directory: str | os.PathLike[str],
    terminals: Sequence[TerminalIdentity] = (),
    *,
    hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
) -> PkiLayout:
    """Create a fresh CA, server certificate and terminal certificates in `directory`."""
    layout = PkiLayout(Path(directory))
    (layout.root / "terminals").mkdir(parents=True, exist_ok=True)
    ca = create_ca()
    _write_private(layout.ca_key, ca[0])
    _write_cert(layout.ca_cert, ca[1])
    skey, scert = issue_server_cert(ca, hosts)
    _write_private(layout.server_key, skey)
    _write_cert(layout.server_cert, scert)
    for ident in terminals:
        add_terminal(layout.root, ident, ca=ca)
    return layout


def load_ca(directory: str | os.PathLike[str]) -> KeyAndCert:
    layout = PkiLayout(Path(directory))
    key = serialization.load_pem_private_key(layout.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("CA key is not an EC key")
    return key, x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())


def add_terminal(
    directory: str | os.PathLike[str], identity: TerminalIdentity, *, ca: KeyAndCert | None = None
) -> tuple[Path, Path]:
    """Issue one more terminal certificate from the directory's CA; returns (cert path, key path)."""
    layout = PkiLayout(Path(directory))
    ca = ca or load_ca(directory)
    key, cert = issue_terminal_cert(ca, identity)
    (layout.root / "terminals").mkdir(parents=True, exist_ok=True)
    _write_private(layout.terminal_key(identity.terminal_id), key)
    _write_cert(layout.terminal_cert(identity.terminal_id), cert)
    return layout.terminal_cert(identity.terminal_id), layout.terminal_key(identity.terminal_id)


# -- gRPC credentials ------------------------------------------------------------------------------


def server_credentials(directory: str | os.PathLike[str]) -> grpc.ServerCredentials:
    """mTLS server side: clients must present a certificate chaining to the directory's CA."""
    layout = PkiLayout(Path(directory))
    return grpc.ssl_server_credentials(
        [(layout.server_key.read_bytes(), layout.server_cert.read_bytes())],
        root_certificates=layout.ca_cert.read_bytes(),
        require_client_auth=True,
    )


def channel_credentials(directory: str | os.PathLike[str], terminal_id: str) -> grpc.ChannelCredentials:
    """mTLS client side for one terminal: trusts only the directory's CA for the server."""
    layout = PkiLayout(Path(directory))
    return grpc.ssl_channel_credentials(
        root_certificates=layout.ca_cert.read_bytes(),
        private_key=layout.terminal_key(terminal_id).read_bytes(),
        certificate_chain=layout.terminal_cert(terminal_id).read_bytes(),
    )

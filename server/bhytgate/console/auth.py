"""Who is at the console: the TLS client certificate (already verified against the terminal CA by
the TLS layer), read as a terminal identity; only officer roles get in. Forms carry a token bound
to that certificate, so a page from another origin cannot post on an officer's behalf."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ssl
import time

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bhytgate.pki.devca import TerminalIdentityError, parse_terminal_identity

OFFICER_ROLES = frozenset({"admin", "reviewer", "auditor"})


@dataclasses.dataclass(frozen=True, slots=True)
class Officer:
    terminal_id: str
    facility: str
    role: str
    kind: str
    cert_sha256: bytes


def csrf_key(audit_key: bytes) -> bytes:
    """Derived from a cluster secret, so a form rendered by one replica posts to any other."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"bhytgate-console-csrf-v1").derive(audit_key)


TOKEN_PERIOD_S = 8 * 3600  # a form token lasts one to two periods (a shift), then the page is reloaded


def _period(now: float | None) -> int:
    return int((time.time() if now is None else now) // TOKEN_PERIOD_S)


def csrf_token(key: bytes, officer: Officer, *, now: float | None = None) -> str:
    """Bound to the certificate and to the current period: a leaked token soon stops working."""
    period = _period(now).to_bytes(8, "big")
    return hmac.new(key, officer.cert_sha256 + period, hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, officer: Officer, token: str, *, now: float | None = None) -> bool:
    """This period's token or the previous one's (a form rendered just before the boundary)."""
    if not token.isascii():
        return False
    current = _period(now) * TOKEN_PERIOD_S
    ok = False
    for at in (current, current - TOKEN_PERIOD_S):
        ok |= hmac.compare_digest(csrf_token(key, officer, now=at), token)
    return ok


def officer_of(request: web.Request) -> Officer:
    """The officer behind this request, or an HTTP error (401 no usable certificate, 403 wrong role)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        raise web.HTTPUnauthorized(text="a client certificate is required")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise web.HTTPUnauthorized(text="a client certificate is required")
    try:
        identity = parse_terminal_identity(der)
    except TerminalIdentityError as exc:
        raise web.HTTPUnauthorized(text=f"certificate not usable: {exc}") from None
    if identity.role.value not in OFFICER_ROLES:
        raise web.HTTPForbidden(text=f"role {identity.role.value} may not use the console")
    return Officer(
        identity.terminal_id,
        identity.facility,
        identity.role.value,
        identity.kind.value,
        hashlib.sha256(der).digest(),
    )


def require_role(officer: Officer, *roles: str) -> None:
    if officer.role not in roles:
        raise web.HTTPForbidden(text=f"role {officer.role} may not use this page")


def server_context(ca_cert: str, server_cert: str, server_key: str) -> ssl.SSLContext:
    """TLS 1.2+ server context that requires a client certificate chaining to the terminal CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca_cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(server_cert, server_key)
    return ctx

"""Revoked terminal certificates as the request path sees them: an in-memory set of SHA-256
fingerprints, so checking a call costs a set lookup and never waits on the database.

The set is reloaded when the database's list grows (`refresh`, run every `REFRESH_S` by the
server's background task, off the event loop), so a certificate revoked on one replica is refused
by every other within about that long; the replica that revoked it refuses it at once (`add`).
Rows are only ever added, so a reload is a union: a refresh that read the list just before a local
revocation cannot drop it.
"""

from __future__ import annotations

import enum
import hashlib
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from bhytgate.storage.revocations import RevocationStore

REFRESH_S = 1.0
MAX_CERTIFICATE_BYTES = 16 * 1024


class RevocationReason(enum.StrEnum):
    """RFC 5280's reasons that fit a terminal's certificate."""

    KEY_COMPROMISE = "key_compromise"
    DEVICE_LOST = "device_lost"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"


def fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the certificate's DER: the key of the revocation list."""
    return cert.fingerprint(hashes.SHA256()).hex()


def der_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate uploaded as PEM or DER; ValueError with a plain message otherwise."""
    if not data or len(data) > MAX_CERTIFICATE_BYTES:
        raise ValueError(f"required, at most {MAX_CERTIFICATE_BYTES} bytes")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError("not an X.509 certificate (PEM or DER)") from None
    return cert


class RevokedCertificates:
    def __init__(self, store: RevocationStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._version = -1
        self._revoked: frozenset[str] = frozenset()
        self.refresh()

    def is_revoked(self, sha256_hex: str) -> bool:
        return sha256_hex in self._revoked

    def add(self, sha256_hex: str) -> None:
        """This replica revoked it: refused here from now on, before the next reload."""
        with self._lock:
            self._revoked = self._revoked | {sha256_hex}

    def refresh(self) -> bool:
        """Reload if the list grew (blocking: run it in a thread). True when it reloaded."""
        version = self.store.revocation_version()  # before the rows: a row added between is reread
        if version == self._version:
            return False
        rows = self.store.revoked_certificates()
        with self._lock:
            self._revoked = self._revoked | rows
            self._version = version
        return True

    def __len__(self) -> int:
        return len(self._revoked)

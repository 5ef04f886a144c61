"""Revoked terminal certificates: the port (`RevocationStore`) and its SQL adapter (a mixin of
`SqlStore`).

A terminal whose device is lost or whose key leaked must stop being able to call, on every replica,
without waiting for its certificate to expire. The gateway has no CRL or OCSP from the terminals'
CA, so it keeps its own list: the SHA-256 of each revoked certificate (DER), with the terminal and
facility the certificate names, why and by whom. Rows are only ever added (a revoked certificate
stays revoked; the terminal gets a new one), so the row count is the list's version: replicas
reload when it moves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

from bhytgate.storage._host import SqlHost


@dataclasses.dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked certificate."""

    sha256: str  # hex of the certificate's DER
    terminal_id: str
    facility: str
    reason: str
    revoked_by: str  # the admin's terminal id
    revoked_at: dt.datetime


class RevocationStore(Protocol):
    def revoke_certificate(self, revocation: Revocation) -> tuple[Revocation, bool]: ...

    def revoked_certificates(self) -> frozenset[str]: ...

    def revocation_version(self) -> int: ...


class RevocationMixin(SqlHost):
    def revoke_certificate(self, revocation: Revocation) -> tuple[Revocation, bool]:
        """Add `revocation`; a certificate revoked before keeps its first row. Returns the row the
        list holds and whether this call added it (a second revocation rewrites neither when nor
        why the certificate was revoked)."""
        with self._tx() as c:
            added = c.execute(
                """INSERT INTO revoked_certificates
                   (sha256, terminal_id, facility, reason, revoked_by, revoked_at)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING""",
                (
                    revocation.sha256,
                    revocation.terminal_id,
                    revocation.facility,
                    revocation.reason,
                    revocation.revoked_by,
                    self._ts(revocation.revoked_at),
                ),
            ).rowcount
            row = c.one("SELECT * FROM revoked_certificates WHERE sha256 = ?", (revocation.sha256,))
        kept = Revocation(
            str(row["sha256"]),
            str(row["terminal_id"]),
            str(row["facility"]),
            str(row["reason"]),
            str(row["revoked_by"]),
            self._from_ts(row["revoked_at"]),
        )
        return kept, added == 1

    def revoked_certificates(self) -> frozenset[str]:
        with self._read() as c:
            rows = c.all("SELECT sha256 FROM revoked_certificates")
        return frozenset(str(r["sha256"]) for r in rows)

    def revocation_version(self) -> int:
        with self._read() as c:
            row = c.one("SELECT COUNT(*) AS n FROM revoked_certificates")
        return int(row["n"])

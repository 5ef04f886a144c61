"""Review cases in the shared database, so that a case opened on one replica is listed, resolved or
expired on any other. A mixin of `SqlStore` (it uses its `_tx`/`_read`, dialect and sealer).

A case's state changes only together with its audit record: the resolution (or the expiry) is
appended with record id `review-<verification id>` and the state updated in the same transaction,
conditionally on the case still being open, so of two replicas resolving (or one resolving while
another expires it) exactly one wins and the chain holds exactly one outcome per case.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bhytgate.audit.chain import AuditEntry
from bhytgate.storage._host import SqlHost
from bhytgate.storage.interface import AlreadyRecorded

if TYPE_CHECKING:
    from bhytgate.storage._codec import TemplateSealer
    from bhytgate.storage.sql import Tx

OPEN, ACCEPTED, REJECTED, EXPIRED = "OPEN", "ACCEPTED", "REJECTED", "EXPIRED"


class CaseNotOpen(Exception):
    """The case was resolved or expired meanwhile (on this replica or another)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ReviewCaseRecord:
    verification_id: str
    facility: str
    terminal_id: str
    terminal_kind: str
    state: str
    opened_at: dt.datetime
    expires_at: dt.datetime
    summary: dict[str, Any]  # reasons, assurance level, face distance, fraud facts: no personal data
    resolved_at: dt.datetime | None = None
    reviewer: str | None = None
    resolution: str | None = None
    attestation: str | None = None

    @property
    def province(self) -> str:
        return self.facility[:2]

    def state_at(self, now: dt.datetime) -> str:
        """An open case past its expiry is expired, whether or not the sweep has marked it yet."""
        return EXPIRED if self.state == OPEN and now >= self.expires_at else self.state


class ReviewStore(Protocol):
    """The port the review service needs."""

    def open_review_case(self, case: ReviewCaseRecord, payload: bytes) -> None: ...

    def review_case(self, verification_id: str) -> tuple[ReviewCaseRecord, bytes] | None: ...

    def open_review_cases(
        self, *, facility: str | None, province: str | None, now: dt.datetime, limit: int
    ) -> list[ReviewCaseRecord]: ...

    def close_review_case(
        self,
        verification_id: str,
        build: Callable[[int, str], AuditEntry],
        *,
        state: str,
        at: dt.datetime,
        reviewer: str | None,
        resolution: str | None,
        attestation: str | None,
    ) -> None: ...

    def expired_review_cases(self, now: dt.datetime, limit: int = 100) -> list[ReviewCaseRecord]: ...


class ReviewMixin(SqlHost):
    if TYPE_CHECKING:

        @property
        def _sealer(self) -> TemplateSealer: ...

        def append_audit(
            self,
            build: Callable[[int, str], AuditEntry],
            *,
            record_id: str | None = None,
            challenge_id: str | None = None,
            also: Callable[[Tx], None] | None = None,
        ) -> AuditEntry: ...

    def open_review_case(self, case: ReviewCaseRecord, payload: bytes) -> None:
        """Store a new open case; `payload` (what an acceptance releases) is sealed at rest."""
        nonce, sealed = self._sealer.seal_blob(f"review:{case.verification_id}", payload)
        with self._tx() as c:
            c.execute(
                """INSERT INTO review_cases (verification_id, facility, province, terminal_id,
                     terminal_kind, state, opened_at, expires_at, summary, nonce, sealed)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    case.verification_id,
                    case.facility,
                    case.province,
                    case.terminal_id,
                    case.terminal_kind,
                    OPEN,
                    self._ts(case.opened_at),
                    self._ts(case.expires_at),
                    json.dumps(case.summary, sort_keys=True),
                    nonce,
                    sealed,
                ),
            )

    def _case(self, row: Any) -> ReviewCaseRecord:
        return ReviewCaseRecord(
            verification_id=str(row["verification_id"]),
            facility=str(row["facility"]),
            terminal_id=str(row["terminal_id"]),
            terminal_kind=str(row["terminal_kind"]),
            state=str(row["state"]),
            opened_at=self._from_ts(row["opened_at"]),
            expires_at=self._from_ts(row["expires_at"]),
            summary=json.loads(row["summary"]),
            resolved_at=None if row["resolved_at"] is None else self._from_ts(row["resolved_at"]),
            reviewer=row["reviewer"],
            resolution=row["resolution"],
            attestation=row["attestation"],
        )

    def review_case(self, verification_id: str) -> tuple[ReviewCaseRecord, bytes] | None:
        """The case and its opened payload, or None."""
        with self._read() as c:
            row = c.one("SELECT * FROM review_cases WHERE verification_id = ?", (verification_id,))
        if row is None:
            return None
        payload = self._sealer.open_blob(
            f"review:{verification_id}", bytes(row["nonce"]), bytes(row["sealed"])
        )
        return self._case(row), payload

    def open_review_cases(
        self, *, facility: str | None, province: str | None, now: dt.datetime, limit: int
    ) -> list[ReviewCaseRecord]:
        """Open, unexpired cases of one facility or one province, oldest first."""
        if facility is not None:
            statement = """SELECT * FROM review_cases WHERE state = ? AND facility = ? AND expires_at > ?
                           ORDER BY opened_at, verification_id LIMIT ?"""
            value = facility
        elif province is not None:
            statement = """SELECT * FROM review_cases WHERE state = ? AND province = ? AND expires_at > ?
                           ORDER BY opened_at, verification_id LIMIT ?"""
            value = province
        else:
            raise ValueError("a facility or a province is required")
        with self._read() as c:
            rows = c.all(statement, (OPEN, value, self._ts(now), limit))
        return [self._case(r) for r in rows]

    def close_review_case(
        self,
        verification_id: str,
        build: Callable[[int, str], AuditEntry],
        *,
        state: str,
        at: dt.datetime,
        reviewer: str | None,
        resolution: str | None,
        attestation: str | None,
    ) -> None:
        """Resolve or expire an open case and append its audit record, atomically; `CaseNotOpen`
        (and neither happens) when it is no longer open, or (resolving) already past its expiry."""

        def update(c: Tx) -> None:
            values = (state, self._ts(at), reviewer, resolution, attestation, verification_id, OPEN)
            if state == EXPIRED:
                cursor = c.execute(
                    """UPDATE review_cases SET state = ?, resolved_at = ?, reviewer = ?, resolution = ?,
                         attestation = ? WHERE verification_id = ? AND state = ?""",
                    values,
                )
            else:  # a resolution must beat the expiry
                cursor = c.execute(
                    """UPDATE review_cases SET state = ?, resolved_at = ?, reviewer = ?, resolution = ?,
                         attestation = ? WHERE verification_id = ? AND state = ? AND expires_at > ?""",
                    (*values, self._ts(at)),
                )
            if cursor.rowcount != 1:
                raise CaseNotOpen(verification_id)

        try:
            self.append_audit(build, record_id=f"review-{verification_id}", also=update)
        except AlreadyRecorded:
            raise CaseNotOpen(verification_id) from None

    def expired_review_cases(self, now: dt.datetime, limit: int = 100) -> list[ReviewCaseRecord]:
        """Open cases past their expiry, for the sweep to close (and audit) one by one."""
        with self._read() as c:
            rows = c.all(
                """SELECT * FROM review_cases WHERE state = ? AND expires_at <= ?
                   ORDER BY expires_at LIMIT ?""",
                (OPEN, self._ts(now), limit),
            )
        return [self._case(r) for r in rows]

"""The narrow storage interface the service depends on, and the records it passes.

Every method is one short transaction so the asyncio service can call it through a thread pool. All
timestamps are timezone-aware; both backends return them in UTC. Document keys (`document_key`) are
opaque strings: the service should pass the audit HMAC pseudonym (`bhytgate.audit.document_key`) rather
than a number in clear, so fraud tables hold no identifiers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from bhytgate.audit.chain import AuditEntry
from bhytgate.audit.index import IndexRow
from bhytgate.entitlement.model import Entitlement


class StorageError(Exception):
    """Base for storage failures the caller may want to tell apart."""


class TemplateIntegrityError(StorageError):
    """A face template failed to decrypt: wrong key, or a row swapped or edited at rest."""


class AuditConflictError(StorageError):
    """An audit entry did not extend the current head (a builder returned a stale link)."""


class StoreUnavailable(StorageError):
    """The database could not be reached, or a lock or statement waited past its bound.

    The failed call changed nothing; the store reconnects on the next call. The service answers
    UNAVAILABLE: the caller may retry."""


class AlreadyRecorded(StorageError):
    """The audit log already holds this record (a retried append, or an orphan sweep came first)."""


class ChallengeProblem(enum.StrEnum):
    """Why a challenge could not be consumed; values are stable strings for policy and logs."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    TERMINAL_MISMATCH = "terminal_mismatch"


@dataclasses.dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """A single-use challenge the gateway issued to one terminal."""

    challenge_id: str
    terminal_id: str
    nonce: bytes
    aa_challenge: bytes
    actions: tuple[str, ...]
    issued_at: dt.datetime
    expires_at: dt.datetime
    consumed_at: dt.datetime | None = None
    facility: str = ""  # of the terminal it was issued to (for the record of an abandoned check)


@dataclasses.dataclass(frozen=True, slots=True)
class FaceTemplate:
    """A decrypted enrolled template; model name/version travel in clear to detect model changes."""

    cccd_number: str
    template: bytes
    model_name: str
    model_version: str
    enrolled_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class CccdLink:
    cccd_number: str
    bhxh_number: str
    by_terminal: str
    linked_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class LostReport:
    document_key: str
    reason: str
    reporter: str
    reported_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class VerificationEvent:
    """One decision, as the fraud rules need it (no biometrics, no names)."""

    document_key: str
    facility: str
    terminal_id: str
    decision: str  # "ACCEPTED" | "REJECTED" | "REVIEW"
    face_mismatch: bool
    at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterRecord:
    """The cluster a database belongs to: who initialised it, how a master key is recognised, and
    the configuration every replica must share (canonical JSON)."""

    cluster_id: str
    created_at: dt.datetime
    master_check: str
    config: str


@dataclasses.dataclass(frozen=True, slots=True)
class StoredFingerprint:
    row_id: int
    sha256: bytes
    phash: bytes


class Store(Protocol):
    """What the gateway persists. Implementations: SqliteStore (embedded), PostgresStore (server)."""

    def close(self) -> None: ...

    def schema_version(self) -> int: ...

    # entitlements
    def upsert_entitlements(self, records: Sequence[Entitlement]) -> int: ...

    def entitlement_by_card(self, card_number: str) -> Entitlement | None: ...

    def entitlements_by_bhxh(self, bhxh_number: str) -> list[Entitlement]: ...

    def entitlements_by_cccd(self, cccd_number: str) -> list[Entitlement]: ...

    def cards_of_people(
        self, cccd_numbers: Sequence[str], bhxh_numbers: Sequence[str]
    ) -> list[tuple[str | None, Entitlement]]: ...

    # cccd <-> bhxh links
    def link_cccd(self, cccd_number: str, bhxh_number: str, by_terminal: str, at: dt.datetime) -> None: ...

    def linked_bhxh(self, cccd_number: str) -> CccdLink | None: ...

    # face templates (encrypted at rest)
    def put_face_template(
        self,
        cccd_number: str,
        template: bytes,
        model_name: str,
        model_version: str,
        at: dt.datetime,
        *,
        consent_id: int | None = None,
        unless_enrolled_since: dt.datetime | None = None,
    ) -> bool: ...

    def attach_template_consent(
        self, cccd_number: str, enrolled_at: dt.datetime, consent_id: int
    ) -> None: ...

    def get_face_template(self, cccd_number: str) -> FaceTemplate | None: ...

    # challenges
    def issue_challenge(self, record: ChallengeRecord) -> None: ...

    def consume_challenge(
        self, challenge_id: str, terminal_id: str, now: dt.datetime, *, facility: str
    ) -> ChallengeRecord | ChallengeProblem: ...

    def purge_challenges(self, expired_before: dt.datetime) -> int: ...

    # lost / stolen documents
    def report_lost(self, document_key: str, reason: str, reporter: str, at: dt.datetime) -> None: ...

    def is_reported_lost(self, document_key: str) -> bool: ...

    def lost_report(self, document_key: str) -> LostReport | None: ...

    # fraud events and counters
    def record_verification(self, event: VerificationEvent) -> None: ...

    def facilities_since(self, document_key: str, since: dt.datetime) -> frozenset[str]: ...

    def face_mismatches_since(self, document_key: str, since: dt.datetime) -> int: ...

    def terminal_recent_decisions(self, facility: str, terminal_id: str, last_n: int) -> dict[str, int]: ...

    # biometric locks
    def lock_biometrics(self, document_key: str, until: dt.datetime) -> None: ...

    def biometric_lock_until(self, document_key: str, now: dt.datetime) -> dt.datetime | None: ...

    # audit log
    def append_audit(self, build: Callable[[int, str], AuditEntry]) -> AuditEntry: ...

    def audit_head(self) -> tuple[int, str]: ...

    def iter_audit(self, from_seq: int = 0) -> Iterator[AuditEntry]: ...

    def iter_audit_index(self, from_seq: int = -(2**63)) -> Iterator[IndexRow]: ...

    def audit_index_row_without_record(self, from_seq: int) -> int | None: ...

    # liveness replay: seen frame hashes
    def add_frame_hashes(self, digests: Sequence[bytes], at: dt.datetime) -> frozenset[bytes]: ...

    def frame_hash_seen(self, digest: bytes) -> bool: ...

    def prune_frame_hashes(self, older_than: dt.datetime) -> int: ...

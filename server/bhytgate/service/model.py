"""What the service layer passes around: the caller, the inputs and results of each operation, and
the typed failures the servicer turns into gRPC statuses. No protobuf here."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bhytgate.checkin.record import CheckinDetails, CheckinRecord
from bhytgate.entitlement.authority import FUND_FACILITY
from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.validity import EntitlementCheck
from bhytgate.policy.model import AssuranceLevel, Outcome, Reason, TerminalKind

# RateLimited, a per-terminal limit (not overload), is defined beside Overloaded; it is part of
# this vocabulary too.
from bhytgate.service.workers import RateLimited as RateLimited
from bhytgate.storage.interface import StoreUnavailable

T = TypeVar("T")


class InvalidRequest(Exception):
    """Well-formed on the wire but not usable: becomes INVALID_ARGUMENT with field violations."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in violations))
        self.violations = violations


class NotFound(Exception):
    pass


class FailedPrecondition(Exception):
    pass


class PermissionDenied(Exception):
    """The caller is who it says but may not do this (another facility's terminal):
    PERMISSION_DENIED."""


class AlreadyExists(Exception):
    """The request names something that exists already in another form (a payment reference used
    for another renewal): ALREADY_EXISTS."""


class Busy(Exception):
    """One-at-a-time work is already running (an audit check): RESOURCE_EXHAUSTED with RetryInfo,
    at once, rather than a call that waits holding one of the gateway's call slots."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(Exception):
    """Something the check depends on is down or busy (database, a lock held too long); nothing the
    caller did. UNAVAILABLE: the caller may retry (a Verify with a new challenge)."""


async def db(fn: Callable[..., T], *args: Any) -> T:
    """A storage call in the default thread pool; a database outage surfaces as Unavailable."""
    try:
        return await asyncio.to_thread(fn, *args)
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated terminal (from its mTLS certificate)."""

    terminal_id: str
    facility: str
    role: str
    kind: TerminalKind

    @property
    def facility_scope(self) -> str | None:
        """The one facility whose check-ins and claims this caller may see; None: every one
        (the fund's national auditor: role `auditor` at facility 00000). An auditor certificate of
        any other facility sees that facility's only (attack run, 2026-12-03: one of hospital
        79014 read 01001's check-in records)."""
        return None if self.role == "auditor" and self.facility == FUND_FACILITY else self.facility


@dataclasses.dataclass(frozen=True, slots=True)
class Operator:
    full_name: str
    cccd_number: str


@dataclasses.dataclass(frozen=True, slots=True)
class BeginResult:
    challenge_id: str
    nonce: bytes
    aa_challenge: bytes
    actions: tuple[str, ...]
    expire_time: dt.datetime
    kind: TerminalKind
    required_level: AssuranceLevel


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyInput:
    challenge_id: str
    frames: Sequence[tuple[bytes, int]]
    chip_files: dict[str, bytes] | None = None
    qr: tuple[str, str] | None = None  # ("cccd" | "bhyt", text)
    aa_signatures: Sequence[bytes] | None = None
    terminal_signature: tuple[bytes, str] | None = None  # (signature, key id)
    operator: Operator | None = None
    guardian: str | None = None  # a child's check-in: the guardian's ACCEPTED verification id
    checkin: CheckinDetails | None = None  # the hospital's keys for the QĐ 4750 record

    @property
    def credential_kind(self) -> str:
        """Which credential verifier handles this input (see `service.credentials`)."""
        if self.chip_files is not None:
            return "chip"
        assert self.qr is not None
        return f"{self.qr[0]}_qr"


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyResult:
    verification_id: str
    outcome: Outcome
    reasons: list[Reason]
    assurance_level: AssuranceLevel | None
    face_distance: float | None
    face_threshold: float | None
    timings: list[tuple[str, float]]
    entitlement: Entitlement | None
    entitlement_check: EntitlementCheck | None
    attestation: str | None
    checks: dict[str, str]  # check -> PASSED | FAILED | SKIPPED
    verify_time: dt.datetime
    retry_hint: str | None = None  # RETRY only: policy.retry.RetryHint
    review_expires: dt.datetime | None = None  # REVIEW only: when its case expires
    checkin: CheckinRecord | None = None  # the QĐ 4750 check-in record of an acceptance


CHECKS = (
    "CHALLENGE",
    "TERMINAL_SIGNATURE",
    "PASSIVE_AUTH",
    "ACTIVE_AUTH",
    "DOCUMENT_STATUS",
    "FACE_MATCH",
    "LIVENESS",
    "ENTITLEMENT",
    "FRAUD_RULES",
)

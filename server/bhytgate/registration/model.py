"""What a remote registration is: the record linking CCCD, social-insurance number and contact, its
strength, and the settings. Plain data and pure rules; storage and the flow are elsewhere."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable

from bhytgate import ids
from bhytgate.policy.model import AssuranceLevel, Outcome, Reason, TerminalKind
from bhytgate.registration.integrity import Disposition, IntegrityPolicy, Verdict


class Status(enum.StrEnum):
    ACTIVE = "active"
    PENDING_REVIEW = "pending_review"
    SUPERSEDED = "superseded"


class ContactKind(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"


@dataclasses.dataclass(frozen=True, slots=True)
class Contact:
    """How the insurance office reaches the holder; validated strictly on construction."""

    kind: ContactKind
    value: str

    def __post_init__(self) -> None:
        if self.kind is ContactKind.PHONE:
            ids.phone_e164(self.value)
        else:
            ids.email(self.value)


@dataclasses.dataclass(frozen=True, slots=True)
class Strength:
    """How strongly a registration was proven; a re-registration needs at least as much of each."""

    level: AssuranceLevel
    integrity: Verdict

    def at_least(self, other: Strength) -> bool:
        return self.level.rank >= other.level.rank and self.integrity.rank >= other.integrity.rank


@dataclasses.dataclass(frozen=True, slots=True)
class RegistrationRecord:
    registration_id: str
    cccd_number: str
    bhxh_number: str
    contact: Contact
    status: Status
    strength: Strength
    verification_id: str
    terminal_id: str
    facility: str
    created_at: dt.datetime
    attestation: str
    supersedes: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RegistrationConfig:
    """Remote registration settings (`[registration]` in gateway.toml). Frozen."""

    integrity: IntegrityPolicy = dataclasses.field(default_factory=IntegrityPolicy)
    terminal_kinds: frozenset[TerminalKind] = frozenset({TerminalKind.PHONE})
    required_level: AssuranceLevel = AssuranceLevel.CHIP_AA_FACE_LIVENESS
    # The verification must be this recent (the challenge, and so the integrity nonce, with it).
    max_verification_age: dt.timedelta = dt.timedelta(minutes=10)
    device_attempts: int = 10
    device_window: dt.timedelta = dt.timedelta(hours=1)
    cccd_attempts: int = 5
    cccd_window: dt.timedelta = dt.timedelta(days=1)
    attestation_ttl: dt.timedelta = dt.timedelta(days=365)

    def __post_init__(self) -> None:
        if self.device_attempts < 1 or self.cccd_attempts < 1:
            raise ValueError("registration attempt limits must be at least 1")
        for window in (self.device_window, self.cccd_window, self.max_verification_age):
            if window <= dt.timedelta(0):
                raise ValueError("registration windows must be positive")


def combine(findings: Iterable[tuple[Reason, Disposition]]) -> tuple[Outcome, list[Reason]]:
    """REJECTED if any finding rejects (only those reasons), else REVIEW if any asks for it, else
    ACCEPTED with the accepted findings kept as notes."""
    items = list(findings)
    rejects = [r for r, d in items if d is Disposition.REJECT]
    if rejects:
        return Outcome.REJECTED, rejects
    reviews = [r for r, d in items if d is Disposition.REVIEW]
    if reviews:
        return Outcome.REVIEW, reviews
    return Outcome.ACCEPTED, [r for r, _ in items]

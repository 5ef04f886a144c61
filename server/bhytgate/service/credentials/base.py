"""What a credential verifier gets and gives back.

A credential (the chip, a CCCD QR, a BHYT/VssID QR, later a VNeID check...) names the holder and,
where it can, proves the document. Each kind is one module with one class implementing
`CredentialVerifier`, and one line in `credentials/__init__.py`'s registry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

from bhytgate.chip.verify import ChipReport
from bhytgate.policy.model import DocumentSource, Reason
from bhytgate.service.config import GatewayConfig
from bhytgate.service.model import VerifyInput
from bhytgate.service.trust import TrustAnchors
from bhytgate.storage.interface import ChallengeRecord, TemplateIntegrityError
from bhytgate.storage.sql import SqlStore


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """What the credential established about the holder, for the per-document part of the check."""

    source: DocumentSource
    cccd: str
    template: bytes | None  # the enrolled template, if any
    report: ChipReport | None = None
    issue_date: dt.date | None = None
    chip_image: bytes | None = None
    name: str | None = None
    dob: str | None = None
    aa_ok: bool | None = None
    document_expired: bool | None = False
    card_number: str | None = None  # a newborn's BHYT card, when it is the only document


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    """The credential failed: these reasons end the check (recorded like any decision).

    `cccd` when the holder is known (a document past its expiry still counts for the holder);
    `violations` when the input itself is unusable (INVALID_ARGUMENT after the record)."""

    reasons: list[Reason]
    cccd: str | None = None
    violations: list[tuple[str, str]] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialContext:
    config: GatewayConfig
    store: SqlStore
    trust: TrustAnchors
    challenge: ChallengeRecord
    now: dt.datetime
    checks: dict[str, str]  # check -> PASSED | FAILED | SKIPPED, filled in as checks run


def enrolled_template(ctx: CredentialContext, cccd: str) -> bytes | Rejected | None:
    """The holder's enrolled template; a row that fails authentication (wrong key, swapped or edited
    at rest) rejects the check with its own reason instead of escaping as an internal error."""
    try:
        stored = ctx.store.get_face_template(cccd)
    except TemplateIntegrityError:
        return Rejected(
            [Reason("INTERNAL_CHECK_UNAVAILABLE", "enrolled template failed its integrity check")], cccd=cccd
        )
    return None if stored is None else stored.template


class CredentialVerifier(Protocol):
    kind: str

    def verify(self, inp: VerifyInput, ctx: CredentialContext) -> Evidence | Rejected:
        """Runs in a worker thread (it may do I/O and CPU work); never raises for bad input."""
        ...

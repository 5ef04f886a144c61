"""Consent terms and retention periods.

Consent is what the holder agrees to at enrolment: what is kept (a face template: a 128-number
embedding, encrypted, never the image), for what purpose (comparing the holder's face at later
BHYT check-ins that present a QR code rather than the chip), until when (`template_days` after
enrolment, or until withdrawn). The counter shows these terms and sends back their version; an
enrolment under another version is refused, so no one consents to terms they were not shown.

Retention: each kind of personal data the gateway keeps has its own period, applied by the
housekeeper (service/housekeeper.py). Pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class ConsentTerms:
    version: str = "2026-01"
    purpose: str = (
        "compare the holder's face at later BHYT check-ins that present a QR code instead of the chip"
    )
    data_kinds: tuple[str, ...] = ("face_template",)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> ConsentTerms:
        """`[consent]`: version, purpose, data_kinds (a list)."""
        kwargs: dict[str, Any] = {k: str(data[k]) for k in ("version", "purpose") if k in data}
        if "data_kinds" in data:
            kwargs["data_kinds"] = tuple(str(k) for k in data["data_kinds"])
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind is kept; `None` keeps that kind for ever (not advised)."""

    frame_fingerprints: dt.timedelta | None = dt.timedelta(days=1)  # replay memory needs a day
    frame_hashes: dt.timedelta | None = dt.timedelta(days=1)
    sessions: dt.timedelta | None = dt.timedelta(hours=1)  # counter follow-ups need minutes
    review_cases: dt.timedelta | None = dt.timedelta(days=365)  # from when a case was closed
    review_cases_column: str = "resolved_at"  # set on resolution and on expiry; NULL while open
    face_templates: dt.timedelta | None = dt.timedelta(days=5 * 365)  # also the consent's term
    # Templates enrolled before consent was recorded have none: delete them (the law needs one).
    delete_templates_without_consent: bool = True
    every: dt.timedelta = dt.timedelta(hours=1)  # how often the housekeeper runs

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> RetentionPolicy:
        """`[retention]`: periods in days (0 or negative: keep for ever), `every_s`."""
        kwargs: dict[str, Any] = {}
        for name in ("frame_fingerprints", "frame_hashes", "sessions", "review_cases", "face_templates"):
            if name in data:
                days = float(data[name])
                kwargs[name] = dt.timedelta(days=days) if days > 0 else None
        if "review_cases_column" in data:
            kwargs["review_cases_column"] = str(data["review_cases_column"])
        if "delete_templates_without_consent" in data:
            kwargs["delete_templates_without_consent"] = bool(data["delete_templates_without_consent"])
        if "every_s" in data:
            kwargs["every"] = dt.timedelta(seconds=float(data["every_s"]))
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class PrivacyConfig:
    terms: ConsentTerms = dataclasses.field(default_factory=ConsentTerms)
    retention: RetentionPolicy = dataclasses.field(default_factory=RetentionPolicy)

    def consent_until(self, granted: dt.datetime) -> dt.datetime:
        period = self.retention.face_templates or dt.timedelta(days=100 * 365)
        return granted + period

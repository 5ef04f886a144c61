"""The console's connection and request limits ([console] in gateway.toml). Kept apart from the
aiohttp code so the configuration can name them without importing the web stack."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class ConsoleLimits:
    """Why each exists: a certificate holder is trusted to log in, not to hold the console's
    sockets and event loop. Every bound is per replica."""

    handshake_s: float = 10.0  # TLS handshake (before any certificate is known)
    header_s: float = 10.0  # request line + headers, from the handshake or the previous response
    body_s: float = 30.0  # a form body, or an upload's first part (the form token), in full
    connections_per_officer: int = 8  # open TLS connections per client certificate
    requests_per_officer: int = 4  # requests in progress per client certificate (then 429)
    max_connections: int = 512  # open TLS connections in all
    # Records of its scope and window a dashboard reads at most (newest first): time per page.
    dashboard_records: int = 200_000

    def __post_init__(self) -> None:
        for name in ("handshake_s", "header_s", "body_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
                raise ValueError(f"console.{name} must be more than 0 and at most 600 seconds")
        for name in ("connections_per_officer", "requests_per_officer", "max_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
                raise ValueError(f"console.{name} must be a whole number from 1 to 100000")
        records = self.dashboard_records
        if isinstance(records, bool) or not isinstance(records, int) or not 1 <= records <= 10_000_000:
            raise ValueError("console.dashboard_records must be a whole number from 1 to 10000000")

    @classmethod
    def from_toml(cls, section: Mapping[str, Any]) -> ConsoleLimits:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"[console] has unknown setting(s): {', '.join(unknown)}")
        return cls(**section)

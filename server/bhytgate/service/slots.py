"""At most `limit` of something at once per key (a terminal, a client certificate), on one event
loop: no lock. Shared by the ReconcileClaims stream bound and the unary "still arriving" bound, so
both count, refuse and give back the same way (a key at zero is dropped, so the map holds only the
keys in use)."""

from __future__ import annotations

import collections


class PerKeySlots:
    def __init__(self, limit: int, what: str) -> None:
        if limit < 1:
            raise ValueError(f"{what} must be at least 1")
        self.limit = limit
        self.taken: collections.Counter[str] = collections.Counter()

    def take(self, key: str) -> bool:
        """One slot for `key`; False (and nothing taken) when it has `limit` already."""
        if self.taken[key] >= self.limit:
            return False
        self.taken[key] += 1
        return True

    def give(self, key: str) -> None:
        self.taken[key] -= 1
        if self.taken[key] <= 0:
            del self.taken[key]

"""Registration attempts per device and per CCCD, counted in the database so that spreading
attempts over replicas gains nothing (like the Begin limit in service/state.py, with windows of the
limit's own length: an hour per device, a day per CCCD by default)."""

from __future__ import annotations

import datetime as dt
import math

from bhytgate.service.model import RateLimited
from bhytgate.storage.sql import SqlStore


class AttemptsExceeded(RateLimited):
    def __init__(self, limit: int, retry_after_s: float, what: str, per: str) -> None:
        super().__init__(limit, retry_after_s, rpc="RegisterHolder", per=per)
        message = (
            f"RegisterHolder limit of {limit} attempts {per} for this {what} reached; "
            f"resets in {max(1, math.ceil(self.retry_after_s))} s"
        )
        Exception.__init__(self, message)


def _per(window: dt.timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0:
        return "a day" if seconds == 86400 else f"per {seconds // 86400} days"
    if seconds % 3600 == 0:
        return "an hour" if seconds == 3600 else f"per {seconds // 3600} hours"
    return f"per {seconds} s"


class AttemptLimiter:
    """At most `limit` attempts per key in fixed windows of `window`; one upsert per attempt."""

    def __init__(self, store: SqlStore, scope: str, what: str, limit: int, window: dt.timedelta) -> None:
        self.store = store
        self.scope = scope
        self.what = what
        self.limit = limit
        self.period = max(1, int(window.total_seconds()))
        self._calls = 0

    def take(self, key: str, now: dt.datetime) -> None:
        moment = now.timestamp()
        start = int(moment) - int(moment) % self.period
        end = start + self.period
        hits = self.store.hit_registration_window(f"{self.scope}:{key}", start, end)
        self._calls += 1
        if self._calls % 500 == 0:
            self.store.purge_registration_windows(int(moment))
        if hits > self.limit:
            raise AttemptsExceeded(
                self.limit, end - moment, self.what, _per(dt.timedelta(seconds=self.period))
            )

"""What every storage mixin uses of `SqlStore`, declared once for the type checker.

Each feature's storage (check-ins, claims, household, ledger, ...) is a mixin of `SqlStore`, whose
own methods give its transactions and its dialect's time encoding; a mixin inherits `SqlHost` to
name them, and declares only what else of the store it calls."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from bhytgate.storage.dialect import Dialect
    from bhytgate.storage.sql import Tx


class SqlHost:
    if TYPE_CHECKING:
        _d: Dialect

        def _tx(self, *, write: bool = True, durable: bool = True) -> AbstractContextManager[Tx]: ...

        def _read(self) -> AbstractContextManager[Tx]: ...

        def _ts(self, value: dt.datetime) -> Any: ...

        def _from_ts(self, value: Any) -> dt.datetime: ...

"""Reconciliation of one claims file as it streams in: parse, look up, classify, summarise.

`feed` (and `close`) run in a worker thread: they parse the bytes given, look up the verified
check-ins of every person in the dossiers completed by them with one query (pseudonyms only), and
return the classified dossiers. Memory: the parser's bounded state, one batch of dossiers and their
check-ins, the constant-size summary, and the check-ins already used by a verified dossier (to flag
a second dossier claiming one as `duplicate`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence

from bhytgate.checkin.keys import CheckinKeys
from bhytgate.claims.envelope import ClaimsScopeError, EnvelopeReader, RawDossier
from bhytgate.claims.match import Keys, Outcome, Status, Summary, classify
from bhytgate.claims.xml1 import Problem, Xml1, parse_payload
from bhytgate.storage.checkins import CheckinStore

DEFAULT_HORIZON = dt.timedelta(days=3)
MAX_WINDOW = dt.timedelta(days=7)


class Reconciliation:
    def __init__(
        self,
        store: CheckinStore,
        keys: CheckinKeys,
        *,
        window: dt.timedelta,
        horizon: dt.timedelta = DEFAULT_HORIZON,
        facility: str | None = None,
    ) -> None:
        """`facility`: reconcile that facility's files only, against its own check-ins (a
        facility admin); None: any file, against every facility's check-ins (the auditor)."""
        self.scope = facility
        self.store = store
        self.keys = keys
        self.window = window
        self.horizon = max(horizon, window)
        self.reader = EnvelopeReader()
        self.summary = Summary(window_minutes=int(window.total_seconds() // 60))
        # Check-ins that already verify a dossier of this file: verification id -> (index, MA_LK).
        # Grows with the verified dossiers (~270 bytes each), the one part not of constant size.
        self.used: dict[str, tuple[int, str]] = {}

    @property
    def bytes_read(self) -> int:
        return self.reader.bytes_read

    def feed(self, chunk: bytes) -> list[Outcome]:
        return self._classify(self._in_scope(self.reader.feed(chunk)))

    def close(self) -> list[Outcome]:
        out = self._classify(self._in_scope(self.reader.close(), closing=True))
        self.summary.facility = self.reader.facility
        self.summary.declared = self.reader.declared_count
        return out

    def _in_scope(self, raw: list[RawDossier], *, closing: bool = False) -> list[RawDossier]:
        """Refuse another facility's file as soon as its header says so, before any dossier is
        looked up (the caller holds the file: saying whose it is tells nothing new)."""
        if self.scope is None:
            return raw
        named = self.reader.facility
        if named and named != self.scope:
            raise ClaimsScopeError(
                f"the file is facility {named}'s (THONGTINDONVI/MACSKCB); an admin of facility"
                f" {self.scope} reconciles its own facility's files only"
            )
        if not named and (raw or closing):
            raise ClaimsScopeError(
                "the file names no facility (THONGTINDONVI/MACSKCB before DANHSACHHOSO);"
                f" an admin of facility {self.scope} reconciles its own facility's files only"
            )
        return raw

    def _keys(self, visit: Xml1) -> Keys:
        return Keys(
            self.keys.cccd(visit.cccd) if visit.cccd else None,
            tuple(self.keys.card(c) for c in visit.cards),
            self.keys.visit(visit.facility, visit.ma_lk),
        )

    def _classify(self, raw: Sequence[RawDossier]) -> list[Outcome]:
        parsed: list[tuple[int, Xml1 | Problem]] = []
        for dossier in raw:
            if dossier.payload is None:
                parsed.append((dossier.index, Problem(dossier.problem or "dossier unreadable")))
            elif dossier.problem is not None:
                parsed.append((dossier.index, Problem(dossier.problem)))
            else:
                parsed.append((dossier.index, parse_payload(dossier.payload, self.reader.facility)))
        visits = [(i, v, self._keys(v)) for i, v in parsed if isinstance(v, Xml1)]
        checkins = []
        if visits:
            cccds = [k.cccd for _, _, k in visits if k.cccd]
            cards = [c for _, _, k in visits for c in k.cards]
            since = min(v.arrival for _, v, _ in visits) - self.horizon
            until = max(v.end or v.arrival for _, v, _ in visits) + self.horizon
            checkins = self.store.checkins_of(cccds, cards, since, until)
            if self.scope is not None:  # another facility's check-ins are not this caller's to see
                checkins = [c for c in checkins if c.facility == self.scope]
        by_index = {}
        for i, v, k in visits:  # in file order: the first dossier keeps a check-in, later ones are duplicates
            outcome = classify(i, v, k, checkins, window=self.window, horizon=self.horizon, used=self.used)
            if outcome.status is Status.VERIFIED:
                self.used[outcome.verification_id] = (i, outcome.ma_lk)
            by_index[i] = outcome
        out = []
        for index, item in parsed:
            outcome = by_index.get(index) or Outcome(
                index,
                item.ma_lk if isinstance(item, Problem) else "",
                Status.UNPARSEABLE,
                item.amount if isinstance(item, Problem) else decimal.Decimal(0),
                reason=item.reason if isinstance(item, Problem) else "",
            )
            self.summary.add(outcome)
            out.append(outcome)
        return out

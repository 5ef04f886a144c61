"""Reconciliation of one claims file as it streams in: parse, look up, classify, summarise.

`feed` (and `close`) run in a worker thread: they parse the bytes given, look up the verified
check-ins of every person in the dossiers completed by them with one query (pseudonyms only), and
return the classified dossiers. Memory: the parser's bounded state, one batch of dossiers and their
check-ins, the constant-size summary, and the check-ins already used by a verified dossier of this
file (to flag a second dossier claiming one as `duplicate`).

Across files, the store keeps which dossier of which file claimed each check-in (`storage.claims`):
a check-in another file's dossier claimed first makes this dossier `duplicate` too, while the same
dossier re-sent (the same facility and XML1, byte for byte: a re-upload of the same file) holds its
own claim and stays `verified`. Each batch's new claims are written with one insert that keeps the
first claim of a check-in, so of two replicas claiming one check-in at once exactly one keeps it;
the other's dossier is then `duplicate` naming it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bhytgate.checkin.keys import CheckinKeys
from bhytgate.claims.envelope import ClaimsScopeError, EnvelopeReader, RawDossier
from bhytgate.claims.match import CARRIES_MA_LK, Holder, Keys, Outcome, Status, Summary, classify
from bhytgate.claims.xml1 import Problem, Xml1, parse_payload
from bhytgate.storage.checkins import CheckinStore
from bhytgate.storage.claims import Claim, ClaimStore

DEFAULT_HORIZON = dt.timedelta(days=3)
MAX_WINDOW = dt.timedelta(days=7)


class ReconcileStore(CheckinStore, ClaimStore, Protocol):
    """What a reconciliation reads (check-ins, claims on them) and writes (its claims)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def payload_text(payload: str | Mapping[str, str]) -> str:
    """An XML1 payload as the text its dossier key is computed over (inline fields: canonical JSON)."""
    if isinstance(payload, str):
        return payload.strip()
    return json.dumps(sorted(payload.items()), ensure_ascii=False, separators=(",", ":"))


class Reconciliation:
    def __init__(
        self,
        store: ReconcileStore,
        keys: CheckinKeys,
        *,
        window: dt.timedelta,
        horizon: dt.timedelta = DEFAULT_HORIZON,
        facility: str | None = None,
        clock: Callable[[], dt.datetime] = _now,
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
        # Check-ins that already verify a dossier of this file: verification id -> (what to name,
        # that dossier's visit key). Grows with the verified dossiers (~390 bytes each), the one
        # part not of constant size.
        self.used: dict[str, tuple[str, str | None]] = {}
        self.clock = clock
        self.run_id = secrets.token_hex(16)  # names this run's claims until the file's digest is known
        self.file_sha256 = ""  # of the whole file, once closed
        self._digest = hashlib.sha256()
        self._claimed = 0

    @property
    def bytes_read(self) -> int:
        return self.reader.bytes_read

    def feed(self, chunk: bytes) -> list[Outcome]:
        self._digest.update(chunk)
        return self._classify(self._in_scope(self.reader.feed(chunk)))

    def close(self) -> list[Outcome]:
        out = self._classify(self._in_scope(self.reader.close(), closing=True))
        self.summary.facility = self.reader.facility
        self.summary.declared = self.reader.declared_count
        self.file_sha256 = self._digest.hexdigest()
        if self._claimed:
            self.store.finish_claims(self.run_id, self.file_sha256)
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

    def _holder(self, claim: Claim, visit_key: str) -> str:
        """Another file's claim, named as far as this caller may see: its own facility's files
        (every file for the auditor) by dossier index, file digest and time; another facility's
        file not at all, only that there is one."""
        if self.scope is not None and claim.file_facility != self.scope:
            return "a dossier of another facility's claims file"
        file = (
            f"file sha256:{claim.file_sha256[:16]}"
            if claim.file_sha256
            else "a file whose reconciliation had not finished"
        )
        same = " with the same MA_LK" if claim.visit_key == visit_key else ""
        return (
            f"dossier {claim.dossier_index}{same} of facility {claim.file_facility or '-'}'s {file}"
            f" (reconciled {claim.claimed_at:%Y-%m-%d %H:%M} UTC)"
        )

    def _taken(
        self, held: Mapping[str, Claim], keys: Keys, dossier_key: Callable[[], str]
    ) -> Callable[[str], Holder | None]:
        """What holds a check-in for this dossier: an earlier dossier of this file, or another
        dossier's claim from another file (the same dossier re-sent holds its own claim)."""

        def taken(verification_id: str) -> Holder | None:
            mine = self.used.get(verification_id)
            if mine is not None:
                return Holder(mine[0], same_visit=mine[1] == keys.visit)
            claim = held.get(verification_id)
            if claim is None:
                return None
            if claim.dossier_key == dossier_key():
                return Holder(self._holder(claim, ""), own=True)  # "": not "with the same MA_LK"
            return Holder(self._holder(claim, keys.visit), same_visit=claim.visit_key == keys.visit)

        return taken

    def _classify(self, raw: Sequence[RawDossier]) -> list[Outcome]:
        parsed: list[tuple[int, Xml1 | Problem, str]] = []
        for dossier in raw:
            if dossier.payload is None:
                parsed.append((dossier.index, Problem(dossier.problem or "dossier unreadable"), ""))
            elif dossier.problem is not None:
                parsed.append((dossier.index, Problem(dossier.problem), ""))
            else:
                item = parse_payload(dossier.payload, self.reader.facility)
                parsed.append((dossier.index, item, payload_text(dossier.payload)))
        visits = [(i, v, self._keys(v), text) for i, v, text in parsed if isinstance(v, Xml1)]
        checkins = []
        held: dict[str, Claim] = {}
        if visits:
            cccds = [k.cccd for _, _, k, _ in visits if k.cccd]
            cards = [c for _, _, k, _ in visits for c in k.cards]
            since = min(v.arrival for _, v, _, _ in visits) - self.horizon
            until = max(v.end or v.arrival for _, v, _, _ in visits) + self.horizon
            checkins = self.store.checkins_of(cccds, cards, since, until)
            if self.scope is not None:  # another facility's check-ins are not this caller's to see
                checkins = [c for c in checkins if c.facility == self.scope]
            held = self.store.claims_on([c.verification_id for c in checkins])
        by_index: dict[int, Outcome] = {}
        claims: list[Claim] = []
        now = self.clock()
        for i, v, k, text in visits:  # in file order: the first dossier keeps a check-in
            # The dossier's key (an HMAC over its XML1), computed only when a claim needs it.
            key = functools.cache(functools.partial(self.keys.dossier, self.reader.facility, text))
            taken = self._taken(held, k, key)
            outcome = classify(i, v, k, checkins, window=self.window, horizon=self.horizon, taken=taken)
            if outcome.status is Status.VERIFIED:
                vid = outcome.verification_id
                self.used[vid] = (f"dossier {i} (MA_LK {outcome.ma_lk or '-'}) of this file", k.visit)
                if vid not in held:  # held already: by this very dossier, sent before
                    claims.append(Claim(vid, key(), k.visit, self.reader.facility, i, self.run_id, None, now))
            by_index[i] = outcome
        if claims:
            self._settle(claims, by_index, {i: k for i, _, k, _ in visits})
        out = []
        for index, item, _ in parsed:
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

    def _settle(self, claims: list[Claim], by_index: dict[int, Outcome], keys: Mapping[int, Keys]) -> None:
        """Write this batch's claims; a check-in another reconciliation claimed meanwhile (another
        replica, at the same moment) is its: the dossier that thought it had it is `duplicate`, and
        so is every later dossier of this batch that it made a duplicate."""
        holders = self.store.claim_checkins(claims)
        self._claimed += len(claims)
        for claim in claims:
            holder = holders.get(claim.verification_id)
            if holder is None or holder.dossier_key == claim.dossier_key:
                continue  # ours (or the check-in was purged meanwhile: nothing to hold)
            vid = claim.verification_id
            reference = self._holder(holder, keys[claim.dossier_index].visit)
            self.used[vid] = (reference, holder.visit_key)
            for index, outcome in by_index.items():
                duplicated = outcome.status in (Status.VERIFIED, Status.DUPLICATE)
                if duplicated and outcome.verification_id == vid and index >= claim.dossier_index:
                    reason = f"its check-in already verifies {reference}"
                    if outcome.reason.endswith(CARRIES_MA_LK):
                        reason += CARRIES_MA_LK
                    by_index[index] = dataclasses.replace(outcome, status=Status.DUPLICATE, reason=reason)

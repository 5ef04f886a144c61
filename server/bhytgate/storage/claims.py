"""Claimed check-ins: the port (`ClaimStore`) and its SQL adapter (a mixin of `SqlStore`).

Claims reconciliation records which dossier of which claims file each verified check-in has been
claimed by, so that a later file claiming the same check-in is flagged `duplicate`. One check-in,
one claim: `verification_id` is the table's primary key and a claim is inserted with
`ON CONFLICT DO NOTHING`, so of two reconciliations claiming one check-in at the same moment (two
replicas, two files) exactly one row is written, and both then read back the same holder. SQLite
serialises writers at BEGIN IMMEDIATE; PostgreSQL's unique index makes the second insert wait for
the first transaction and then do nothing.

A row holds references, no personal data: the claiming dossier's keyed digest and visit key
(`checkin.keys`), the file's facility and the dossier's index in it, a random id of the
reconciliation run, and the file's SHA-256 once that run has read the whole file. It lives as long
as the check-in's row (a foreign key, ON DELETE CASCADE: the check-ins' purge drops both).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bhytgate.storage._host import SqlHost
from bhytgate.storage.checkins import MAX_KEYS_PER_QUERY

if TYPE_CHECKING:
    from bhytgate.storage.sql import Tx


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """A check-in claimed by one dossier of one claims file."""

    verification_id: str
    dossier_key: str  # keyed digest of the file's facility and the dossier's XML1 as sent
    visit_key: str | None  # keyed pseudonym of the dossier's (MA_CSKCB, MA_LK)
    file_facility: str  # THONGTINDONVI/MACSKCB of the file ('' when it names none)
    dossier_index: int  # 1-based, in file order
    run_id: str  # the reconciliation that wrote the claim
    file_sha256: str | None  # of the whole file, once that reconciliation read it to the end
    claimed_at: dt.datetime


class ClaimStore(Protocol):
    def claims_on(self, verification_ids: Sequence[str]) -> dict[str, Claim]: ...

    def claim_checkins(self, claims: Sequence[Claim]) -> dict[str, Claim]: ...

    def finish_claims(self, run_id: str, file_sha256: str) -> int: ...


_COLUMNS = (
    "verification_id, dossier_key, visit_key, file_facility, dossier_index, run_id, file_sha256, claimed_at"
)


class ClaimMixin(SqlHost):
    def _claim(self, row: Any) -> Claim:
        return Claim(
            str(row["verification_id"]),
            str(row["dossier_key"]),
            row["visit_key"],
            str(row["file_facility"]),
            int(row["dossier_index"]),
            str(row["run_id"]),
            row["file_sha256"],
            self._from_ts(row["claimed_at"]),
        )

    def _holders(self, c: Tx, verification_ids: Sequence[str]) -> dict[str, Claim]:
        keys = sorted(set(verification_ids))
        out: dict[str, Claim] = {}
        for start in range(0, len(keys), MAX_KEYS_PER_QUERY):
            batch = keys[start : start + MAX_KEYS_PER_QUERY]
            marks = ", ".join("?" * len(batch))
            rows = c.all(
                f"SELECT {_COLUMNS} FROM claimed_checkins WHERE verification_id IN ({marks})",  # noqa: S608  (fixed columns, placeholders only)
                batch,
            )
            for row in rows:
                claim = self._claim(row)
                out[claim.verification_id] = claim
        return out

    def claims_on(self, verification_ids: Sequence[str]) -> dict[str, Claim]:
        """The claims held on these check-ins (those not claimed are absent)."""
        if not verification_ids:
            return {}
        with self._read() as c:
            return self._holders(c, verification_ids)

    def claim_checkins(self, claims: Sequence[Claim]) -> dict[str, Claim]:
        """Claim each check-in unless it is claimed already (by anyone); return who holds each now,
        this call's claim or the one that came first. A check-in purged meanwhile is not claimed
        (and has no holder)."""
        if not claims:
            return {}
        try:
            return self._claim_once(claims)
        except self._d.integrity:
            # PostgreSQL: a check-in the purge deleted and had not committed passed the EXISTS, and
            # the foreign key check then waited for the purge and found it gone. Once more: the
            # EXISTS now sees it gone, and the check-in is not claimed.
            return self._claim_once(claims)

    def _claim_once(self, claims: Sequence[Claim]) -> dict[str, Claim]:
        with self._tx() as c:
            c.many(
                f"""INSERT INTO claimed_checkins ({_COLUMNS})
                    SELECT ?, ?, ?, ?, ?, ?, NULL, ?
                    WHERE EXISTS (SELECT 1 FROM checkins WHERE verification_id = ?)
                    ON CONFLICT (verification_id) DO NOTHING""",  # noqa: S608  (fixed columns)
                [
                    (
                        claim.verification_id,
                        claim.dossier_key,
                        claim.visit_key,
                        claim.file_facility,
                        claim.dossier_index,
                        claim.run_id,
                        self._ts(claim.claimed_at),
                        claim.verification_id,
                    )
                    # in key order: two transactions claiming overlapping check-ins take the
                    # index's locks in the same order, so they wait for each other, never deadlock
                    for claim in sorted(claims, key=lambda c: c.verification_id)
                ],
            )
            return self._holders(c, [claim.verification_id for claim in claims])

    def finish_claims(self, run_id: str, file_sha256: str) -> int:
        """The run read its file to the end: its claims now name the file by its SHA-256."""
        with self._tx() as c:
            return int(
                c.execute(
                    "UPDATE claimed_checkins SET file_sha256 = ? WHERE run_id = ? AND file_sha256 IS NULL",
                    (file_sha256, run_id),
                ).rowcount
            )

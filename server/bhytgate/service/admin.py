"""The administrator's services: trust anchors, entitlement imports, terminal device keys, the audit
chain's verification, the attestation keys. Everything lands in the shared database."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bhytgate.attestation import jwks_json
from bhytgate.audit.checkpoint import (
    AuditCheckpoint,
    CheckpointError,
    check_checkpoints,
    sign_checkpoint,
    verify_checkpoint,
)
from bhytgate.audit.index import verify_log
from bhytgate.chip import ChipError
from bhytgate.entitlement.authority import FUND_FACILITY, ImportRefused, foreign_holders, import_province
from bhytgate.entitlement.importer import parse_entitlements
from bhytgate.face.liveness import load_device_key
from bhytgate.pki.devca import TerminalIdentityError, identity_from_certificate
from bhytgate.service.model import Busy, Caller, InvalidRequest, PermissionDenied, Unavailable, db
from bhytgate.service.recorder import Recorder
from bhytgate.service.revocation import RevocationReason, RevokedCertificates, fingerprint, load_certificate
from bhytgate.service.state import TerminalKeys
from bhytgate.service.trust import TrustAnchors
from bhytgate.service.turns import FairTurns
from bhytgate.storage.interface import StoreUnavailable
from bhytgate.storage.revocations import Revocation
from bhytgate.storage.sql import SqlStore

# A facility refused an audit check keeps its place next in line while it retries within this long
# (and at least as long as this many checks take): beyond, it gave up and frees the turn.
AUDIT_HOLD_MIN_S = 5.0
AUDIT_HOLD_CHECKS = 3.0

# What parsing an uploaded certificate's identity raises (cryptography reads extensions lazily).
_UNUSABLE_CERTIFICATE = (
    ValueError,
    TerminalIdentityError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)

log = logging.getLogger(__name__)


class AdminService:
    def __init__(
        self,
        store: SqlStore,
        trust: TrustAnchors,
        terminal_keys: TerminalKeys,
        recorder: Recorder,
        revoked: RevokedCertificates,
        *,
        attestation_key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], dt.datetime],
        issuer: str,
    ) -> None:
        self.store = store
        self.trust = trust
        self.terminal_keys = terminal_keys
        self.recorder = recorder
        self.revoked = revoked
        self.attestation_key = attestation_key
        self.clock = clock
        self.issuer = issuer
        # The audit check reads the whole log (seconds for 150,000 records) in a thread that a
        # deadline or a cancel cannot stop. In the default pool (6 threads on 2 cores) eight
        # abandoned checks made every check-in's storage calls wait 22 s (attack run, 2026-12-02):
        # one check at a time, on a thread of its own; a caller gone while waiting never starts one.
        self._audit_turns = FairTurns(AUDIT_HOLD_MIN_S)
        self._audit_last_s = 1.0  # how long the last audit check took: a refused caller's wait
        self._audit_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="audit-check")
        # Entitlement files parse (~3 s for 32 MB) on a thread of their own too, one file at a time:
        # the default pool carries every check-in's storage calls.
        self._import_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="import")
        self._applying: set[asyncio.Future[tuple[Revocation, bool]]] = set()  # revocations carried on

    async def _audit(self, caller: Caller, decision: str, action: str) -> None:
        """Administration changes what every replica trusts: each change leaves its record."""
        await db(lambda: self.recorder.record_action(caller, decision, action, document_number=None))

    async def load_trust(
        self,
        caller: Caller,
        cscas: Sequence[bytes],
        master_lists: Sequence[bytes],
        crls: Sequence[bytes],
        document_signers: Sequence[bytes] = (),
    ) -> tuple[int, int, int]:
        """Chip trust is national: what one replica trusts, every facility's check-ins trust. Only
        the fund's admin (facility 00000) changes it; a hospital's admin loaded its own CSCA and
        then checked in a forged chip with another person's entitlement (attack run, 2026-12-03).
        A call that adds nothing (the totals) is any admin's."""
        if (cscas or master_lists or crls or document_signers) and caller.facility != FUND_FACILITY:
            raise PermissionDenied(
                f"facility {caller.facility} may not change the chip trust anchors: they are national,"
                f" the fund's (facility {FUND_FACILITY})"
            )
        try:
            added, crls_added = await db(self.trust.add, cscas, master_lists, crls, document_signers)
        except ChipError as exc:
            raise InvalidRequest([("trust", f"{exc.message} [{exc.reason}]")]) from None
        await self._audit(caller, f"TRUST_LOADED:{added}:{crls_added}", "load_trust")
        return added, crls_added, self.trust.csca_total

    async def import_entitlements(
        self, caller: Caller, content: bytes, fmt: str, *, dry_run: bool
    ) -> tuple[int, int, list[Any]]:
        """Cards are the fund's: the fund imports every province's, a provincial office its own
        (`entitlement/authority.py`); a hospital's admin none, dry run included."""
        try:
            province = import_province(caller.facility)
        except ImportRefused as exc:
            raise PermissionDenied(str(exc)) from None
        rows: list[int] = []
        parse = functools.partial(parse_entitlements, content, fmt, province=province, rows=rows)
        loop = asyncio.get_running_loop()
        records, errors = await loop.run_in_executor(self._import_thread, parse)
        if province is not None and records:
            held = await db(
                self.store.cards_of_people,
                [r.cccd_number for r in records if r.cccd_number],
                [r.social_insurance_number for r in records],
            )
            errors = sorted([*errors, *foreign_holders(records, rows, held, province)], key=lambda e: e.row)
        if errors or dry_run:
            return 0, len(records), list(errors)
        imported = await db(self.store.upsert_entitlements, records)
        await self._audit(caller, f"ENTITLEMENTS_IMPORTED:{imported}", "import_entitlements")
        return int(imported), len(records), []

    async def register_terminal_key(self, caller: Caller, key_id: str, pem: bytes) -> None:
        """A device key for the terminal `key_id` of the caller's facility: from now on, on every
        replica, that terminal's captures must be signed with it."""
        try:
            key = load_device_key(pem)
        except ValueError as exc:
            raise InvalidRequest([("public_key", f"{exc} (Ed25519 or EC P-256, PEM or DER)")]) from None
        text = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        # The key binds the terminal of the admin's own facility (ids repeat across facilities).
        await db(self.terminal_keys.register, key_id, caller.facility, text, self.clock())
        await self._audit(caller, f"DEVICE_KEY_REGISTERED:{key_id}", "register_terminal_key")

    async def revoke_certificate(
        self, caller: Caller, data: bytes, reason: RevocationReason
    ) -> tuple[Revocation, bool]:
        """Revoke a client certificate of the caller's facility, on every replica (this one at
        once). Returns the list's row and whether this call added it."""
        try:
            cert = load_certificate(data)
            identity = identity_from_certificate(cert)
        except _UNUSABLE_CERTIFICATE as exc:
            raise InvalidRequest([("certificate", f"not a terminal certificate: {exc}")]) from None
        if identity.facility != caller.facility:
            # Terminal ids repeat across facilities: an admin revokes its own facility's only.
            raise PermissionDenied(
                f"the certificate is of facility {identity.facility}; an admin revokes its own"
                f" facility's ({caller.facility})"
            )
        digest = fingerprint(cert)
        asked = Revocation(
            digest, identity.terminal_id, identity.facility, reason.value, caller.terminal_id, self.clock()
        )

        async def apply() -> tuple[Revocation, bool]:
            kept, added = await db(self.store.revoke_certificate, asked)
            self.revoked.add(digest)
            if added:
                await self._audit(
                    caller,
                    f"CERTIFICATE_REVOKED:{identity.terminal_id}:{reason.value}:{digest[:16]}",
                    "revoke_terminal_certificate",
                )
            return kept, added

        # Once asked, carried through even if the admin hangs up or its deadline passes: a row
        # written with its caller cancelled was never refused here at once nor audited (a second
        # revocation finds it already revoked and writes no record).
        task = asyncio.ensure_future(apply())
        self._applying.add(task)
        task.add_done_callback(self._applied)
        return await asyncio.shield(task)

    def _applied(self, task: asyncio.Future[tuple[Revocation, bool]]) -> None:
        self._applying.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here (no "never retrieved" traceback); the caller, if still there, has it.
            log.warning("revocation not completed: %s", type(task.exception()).__name__)

    async def verify_audit(
        self, checkpoints: Sequence[str] = (), *, facility: str = ""
    ) -> tuple[bool, int, int | None, str]:
        """The hash chain, then the audit index against the verified records (an index row deleted
        or altered would hide a record from the dashboard and the export), then the checkpoints
        kept outside the database (a log rewritten or cut since one of them). All of it on the
        audit thread: up to 1,000 checkpoint signatures a call are ~1,000 ES256 verifications, which
        on the event loop held every RPC of the replica (attack run); a refused checkpoint is
        still refused before the log is read. One check at a time per replica, the turn shared
        fairly between `facility`s (`service.turns`): a refused one is next, whoever retries first."""

        def run() -> tuple[bool, int, int | None, str]:
            jwks = self.jwks() if checkpoints else ""
            pinned: list[AuditCheckpoint] = []
            violations: list[tuple[str, str]] = []
            for i, token in enumerate(checkpoints):
                try:
                    pinned.append(verify_checkpoint(token, jwks))
                except CheckpointError as exc:
                    violations.append((f"checkpoints[{i}]", str(exc)))
            if violations:
                raise InvalidRequest(violations)
            report = verify_log(self.store)
            if report.ok and pinned:
                report = check_checkpoints(self.store.iter_audit(), pinned, report.checked)
            return report.ok, report.checked, report.first_broken_index, report.reason

        # Refused at once, never queued: callers queued behind the check each held a call slot,
        # and 64 of one admin's took every slot of the replica (attack run, 2026-12-03).
        wait = max(1.0, math.ceil(self._audit_last_s))
        self._audit_turns.hold_s = max(AUDIT_HOLD_MIN_S, AUDIT_HOLD_CHECKS * self._audit_last_s)
        turn = self._audit_turns.request(facility, time.monotonic())
        if not turn.granted:
            running = "running" if self._audit_turns.running is not None else "just ended"
            others = "1 facility's goes" if turn.ahead == 1 else f"{turn.ahead} facilities' go"
            place = "yours is next" if turn.ahead == 0 else f"{others} before yours"
            raise Busy(f"an audit check is {running} on this replica; {place}; retry in {wait:.0f} s", wait)
        started = time.monotonic()
        check = asyncio.get_running_loop().run_in_executor(self._audit_thread, run)
        try:
            return await asyncio.shield(check)
        except asyncio.CancelledError:
            # The thread cannot be stopped: the turn stays taken until it ends (second
            # review: a caller's deadline freed it, and the next check waited holding a slot).
            await asyncio.wait({check})
            raise
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from None
        finally:
            self._audit_last_s = time.monotonic() - started
            self._audit_turns.done(time.monotonic())

    async def audit_checkpoint(self) -> tuple[str, AuditCheckpoint]:
        """The log's size and last hash now, signed with the attestation key (whole seconds, as
        the token's `iat` has them)."""
        size, head = await db(self.store.audit_head)
        checkpoint = AuditCheckpoint(self.issuer, size, head, self.clock().replace(microsecond=0))
        return sign_checkpoint(checkpoint, self.attestation_key), checkpoint

    def jwks(self) -> str:
        return jwks_json([self.attestation_key.public_key()])

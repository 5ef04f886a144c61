"""The wire side of the QĐ 4750 check-in record and of claims reconciliation.

Two mixins the servicers in `verification_servicer.py` and `admin_servicer.py` inherit (a gRPC
service has one servicer, so the RPCs of VerificationService and AdminService live on theirs), and
the translations both use. Like the rest: validate, call the gateway, translate; typed statuses,
never a traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from bhytgate import ids
from bhytgate.api.errors import retry_status
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.checkin.record import CheckinDetails, CheckinRecord
from bhytgate.claims.envelope import ClaimsFileError, ClaimsScopeError
from bhytgate.claims.match import Outcome, Status, Summary
from bhytgate.claims.service import MAX_WINDOW
from bhytgate.service.model import InvalidRequest, db
from bhytgate.service.rpc import _failure, timestamp
from bhytgate.service.slots import PerKeySlots
from bhytgate.service.wire import RefusedRequest

if TYPE_CHECKING:
    from bhytgate.service.config import GatewayConfig
    from bhytgate.service.gateway import Caller, Gateway

Ctx = grpc.aio.ServicerContext[Any, Any]
READERS = frozenset({"admin", "auditor"})  # of check-in records and claims files (facility-scoped)
CHUNK_BYTES = 1024 * 1024
MAX_FILE_NAME = 255
RETRY_AFTER_S = 5.0  # a stream refused for the per-terminal bound: another is still sending its file
STATUSES = {
    Status.VERIFIED: pb.DOSSIER_STATUS_VERIFIED,
    Status.UNVERIFIED: pb.DOSSIER_STATUS_UNVERIFIED,
    Status.MISMATCH: pb.DOSSIER_STATUS_MISMATCH,
    Status.UNPARSEABLE: pb.DOSSIER_STATUS_UNPARSEABLE,
    Status.DUPLICATE: pb.DOSSIER_STATUS_DUPLICATE,
}


def _level(value: str) -> Any:
    """A stored assurance level ("chip_face") as the wire enum; unknown names are UNSPECIFIED."""
    try:
        return pb.AssuranceLevel.Value("ASSURANCE_LEVEL_" + value.upper())
    except ValueError:
        return 0


def checkin_details(msg: pb.CheckinDetails, violations: list[tuple[str, str]]) -> CheckinDetails | None:
    """VerifyRequest.checkin, validated in full; None when not given."""
    values = {}
    for field, check in (
        ("ma_lk", ids.visit_key),
        ("ma_bn", ids.visit_key),
        ("ma_doituong_kcb", ids.patient_category),
        ("ma_loai_kcb", ids.visit_kind),
    ):
        value = getattr(msg, field)
        if value:
            try:
                values[field] = check(value)
            except ValueError as exc:
                violations.append((f"checkin.{field}", str(exc)))
    return CheckinDetails(**values) if values else None


def checkin_record_proto(record: CheckinRecord) -> pb.CheckinRecord:
    return pb.CheckinRecord(
        verification_id=record.verification_id,
        attestation_id=record.attestation_id,
        xml=record.xml,
        expire_time=timestamp(record.expires_at),
    )


def dossier_proto(outcome: Outcome) -> pb.DossierResult:
    return pb.DossierResult(
        index=outcome.index,
        ma_lk=outcome.ma_lk,
        status=STATUSES[outcome.status],
        verification_id=outcome.verification_id,
        attestation_id=outcome.attestation_id,
        assurance_level=_level(outcome.assurance_level) if outcome.assurance_level else 0,  # type: ignore[arg-type]
        amount=str(outcome.amount),
        reason=outcome.reason,
        facility=outcome.facility,
    )


def summary_proto(summary: Summary) -> pb.ReconcileSummary:
    return pb.ReconcileSummary(
        dossier_count=summary.total,
        classes=[
            pb.ClaimsClassTotal(status=STATUSES[s], count=summary.counts[s], amount=str(summary.amounts[s]))
            for s in Status
        ],
        facility=summary.facility,
        declared_count=summary.declared,
        window_minutes=summary.window_minutes,
    )


class TooManyStreams(Exception):
    """The terminal already has its streams open on this replica; one ending frees a slot."""


class StalledStream(Exception):
    """The caller sent nothing for the idle bound: the stream is closed, its slot given back."""


async def _paced(requests: AsyncIterator[Any], idle_s: float) -> AsyncIterator[Any]:
    """`requests`, each message within `idle_s` of the gateway asking for it: a caller that stops
    sending mid-file would otherwise hold its stream (and a call slot) as long as it stays connected."""
    iterator = aiter(requests)
    while True:
        try:
            request = await asyncio.wait_for(anext(iterator), idle_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise StalledStream(
                f"claims file: nothing received for {idle_s:g} s; the stream is closed, send the file again"
            ) from None
        yield request


class CheckinRecordRpc:
    """VerificationService.GetCheckinRecord."""

    if TYPE_CHECKING:
        gateway: Gateway

        def caller(
            self, context: Ctx, roles: frozenset[str], *, claimed_id: str = "", claimed_kind: int = 0
        ) -> Caller: ...

    async def _get_checkin_record(
        self, request: pb.GetCheckinRecordRequest, context: Ctx, roles: frozenset[str]
    ) -> pb.GetCheckinRecordResponse:
        try:
            ids.verification_id(request.verification_id)
        except ValueError as exc:
            raise InvalidRequest([("verification_id", str(exc))]) from None
        caller = self.caller(context, roles | READERS)
        record = await self.gateway.checkin_record(caller, request.verification_id)
        return pb.GetCheckinRecordResponse(checkin_record=checkin_record_proto(record))


class ReconcileClaimsRpc:
    """AdminService.ReconcileClaims: the file streams in, dossiers stream out, summary last."""

    if TYPE_CHECKING:
        gateway: Gateway
        config: GatewayConfig
        ROLES: frozenset[str]
        claims_streams: PerKeySlots

        def caller(
            self, context: Ctx, roles: frozenset[str], *, claimed_id: str = "", claimed_kind: int = 0
        ) -> Caller: ...

    @staticmethod
    def _options(request: pb.ReconcileClaimsRequest) -> dt.timedelta | None:
        violations = []
        name = request.file_name
        if len(name) > MAX_FILE_NAME or not name.isprintable():
            violations.append(("file_name", f"at most {MAX_FILE_NAME} printable characters"))
        minutes = request.window_minutes
        if not 0 <= minutes <= MAX_WINDOW.total_seconds() // 60:
            violations.append(("window_minutes", f"0 (default) to {int(MAX_WINDOW.total_seconds() // 60)}"))
        if violations:
            raise InvalidRequest(violations)
        return dt.timedelta(minutes=minutes) if minutes else None

    async def ReconcileClaims(
        self, request_iterator: AsyncIterator[pb.ReconcileClaimsRequest], context: Ctx
    ) -> AsyncIterator[pb.ReconcileClaimsResponse]:
        taken = ""
        try:
            caller = self.caller(context, READERS)
            # A terminal is its id at its facility: ids repeat across facilities (another
            # facility's admin-01 took this one's slots, attack run 2026-12-03).
            slot = f"{caller.facility}/{caller.terminal_id}"
            if not self.claims_streams.take(slot):
                raise TooManyStreams(
                    f"at most {self.claims_streams.limit} ReconcileClaims streams at once per terminal;"
                    " retry when one has ended"
                )
            taken = slot
            job = None
            async for request in _paced(request_iterator, self.config.claims_idle_s):
                # Each message, as each unary call: a stream opened before its certificate was
                # revoked (or that outlives it) must not go on reading claims and answering dossiers.
                self.caller(context, READERS)
                if isinstance(request, RefusedRequest):
                    raise InvalidRequest([("chunk", request.message)])
                if job is None:
                    job = self.gateway.reconciliation(self._options(request), caller)
                if len(request.chunk) > CHUNK_BYTES:
                    raise InvalidRequest([("chunk", f"at most {CHUNK_BYTES} bytes per message")])
                if not request.chunk:
                    continue
                outcomes: Sequence[Outcome] = await db(job.feed, bytes(request.chunk))
                yield pb.ReconcileClaimsResponse(
                    dossiers=[dossier_proto(o) for o in outcomes], bytes_read=job.bytes_read
                )
            if job is None:
                raise InvalidRequest([("chunk", "no data: send the claims file's bytes")])
            last = await db(job.close)
            await self.gateway.record_reconciliation(caller, job.summary)
            yield pb.ReconcileClaimsResponse(
                dossiers=[dossier_proto(o) for o in last],
                bytes_read=job.bytes_read,
                summary=summary_proto(job.summary),
            )
            return
        except asyncio.CancelledError:
            raise
        except TooManyStreams as exc:
            status = retry_status(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), RETRY_AFTER_S)
            failure: tuple[Any, ...] = (status.code, status.details, status.trailing_metadata)
        except StalledStream as exc:
            failure = (grpc.StatusCode.DEADLINE_EXCEEDED, str(exc), ())
        except ClaimsScopeError as exc:
            failure = (grpc.StatusCode.PERMISSION_DENIED, f"claims file: {exc}", ())
        except ClaimsFileError as exc:
            failure = (grpc.StatusCode.INVALID_ARGUMENT, f"claims file: {exc}", ())
        except Exception as exc:
            failure = _failure(self, "ReconcileClaims", exc)
        finally:
            if taken:
                self.claims_streams.give(taken)
        await context.abort(*failure)

"""ReconcileClaims' own bounds over the real gateway: a terminal holds at most
`claims_streams_per_terminal` streams at once on a replica, and a stream that stops sending is
closed after `claims_idle_s` (5 s in the test deployment), its slot given back.

An attack run held 64 half-open streams of one admin and so took every call slot of the gateway."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.pki.devca import TerminalIdentity, add_terminal

from .conftest import Deployment
from .test_claims_e2e import Visit, claims_bytes

ADMIN = "streams-admin"
OTHER = "streams-admin-2"


def _admin(d: Deployment, terminal: str) -> str:
    if not (d.home / "pki" / "terminals" / f"{terminal}.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity(terminal, "01001", "admin", "desk"))  # type: ignore[arg-type]
    return terminal


def _file() -> bytes:
    visit = Visit("LK-STREAMS", "079200000123", "DN4790000012345", dt.datetime.now(dt.UTC), "01001")
    return claims_bytes("01001", [visit])


class HeldStream:
    """A stream that sends the first bytes of a file, then empty messages every 0.5 s (so the idle
    bound does not close it) until released, then the rest of the file."""

    def __init__(self, d: Deployment, terminal: str, data: bytes) -> None:
        self.release = threading.Event()
        self.data = data
        self.client = d.client(terminal).__enter__()
        self.call = self.client.admin.ReconcileClaims(self._requests(), timeout=120)
        self.first = next(self.call)  # the handler has the stream (and its slot)

    def _requests(self) -> Iterator[pb.ReconcileClaimsRequest]:
        yield pb.ReconcileClaimsRequest(file_name="held.xml", chunk=self.data[:64])
        while not self.release.wait(0.5):
            yield pb.ReconcileClaimsRequest()
        yield pb.ReconcileClaimsRequest(chunk=self.data[64:])

    def finish(self) -> list[pb.ReconcileClaimsResponse]:
        self.release.set()
        try:
            return list(self.call)
        finally:
            self.client.__exit__(None, None, None)


def _reconcile(d: Deployment, terminal: str, data: bytes) -> list[pb.ReconcileClaimsResponse]:
    with d.client(terminal) as client:
        return list(client.admin.ReconcileClaims(iter([pb.ReconcileClaimsRequest(chunk=data)]), timeout=60))


def test_a_terminal_holds_at_most_its_streams_and_others_are_not_refused(deployment: Deployment) -> None:
    d, data = deployment, _file()
    limit = d.running.gateway.config.claims_streams_per_terminal
    held = [HeldStream(d, _admin(d, ADMIN), data) for _ in range(limit)]
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _reconcile(d, ADMIN, data)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        wanted = f"at most {limit} ReconcileClaims streams at once per terminal"
        assert wanted in (refused.value.details() or "")
        keys = [k for k, _ in refused.value.trailing_metadata() or ()]
        assert "grpc-status-details-bin" in keys  # RetryInfo: when to try again
        # another terminal, and the terminal's other calls, are not affected
        assert _reconcile(d, _admin(d, OTHER), data)[-1].summary.dossier_count == 1
    finally:
        answers = [h.finish() for h in held]
    assert all(a[-1].summary.dossier_count == 1 for a in answers)  # the held files reconcile in full
    # the slots are given back
    assert _reconcile(d, ADMIN, data)[-1].summary.dossier_count == 1


def test_a_stream_that_stops_sending_is_closed_and_its_slot_given_back(deployment: Deployment) -> None:
    d, data = deployment, _file()
    idle = d.running.gateway.config.claims_idle_s
    limit = d.running.gateway.config.claims_streams_per_terminal
    stop = threading.Event()

    def stalled() -> Iterator[pb.ReconcileClaimsRequest]:
        yield pb.ReconcileClaimsRequest(file_name="stalled.xml", chunk=data[:64])
        stop.wait(120)  # says nothing more, connection open

    terminal = _admin(d, ADMIN)
    try:
        with d.client(terminal) as client:
            calls = [client.admin.ReconcileClaims(stalled(), timeout=120) for _ in range(limit)]
            start = time.monotonic()
            errors = []
            for call in calls:
                with pytest.raises(grpc.RpcError) as closed:
                    list(call)
                errors.append(closed.value)
            took = time.monotonic() - start
    finally:
        stop.set()
    assert {e.code() for e in errors} == {grpc.StatusCode.DEADLINE_EXCEEDED}
    assert f"nothing received for {idle:g} s" in (errors[0].details() or "")
    assert idle <= took < idle + 30
    assert _reconcile(d, terminal, data)[-1].summary.dossier_count == 1  # every slot is free again

"""Requests that never finish arriving, written frame by frame over the terminal's mTLS (h2wire):
gRPC buffers a unary request until its declared length has arrived, so a client that declares 50
MiB and stops would hold what it sent for as long as its connection stays open (an attack run held
220 MB with 4 connections). The gateway bounds it: a unary request must arrive within
`request_receive_s` (5 s in this test deployment), and one terminal has at most
`receiving_per_terminal` requests arriving at once."""

from __future__ import annotations

import socket
import time

import grpc
import pytest

from bhytgate.api.v1 import gateway_pb2 as pb

from .conftest import Deployment
from .h2wire import RawCall, tls_context

VERIFY = "/bhytgate.v1.VerificationService/Verify"
KEYS = "/bhytgate.v1.VerificationService/GetAttestationKeys"
TERMINAL = "probe-desk"


def _held_verify(d: Deployment, terminal: str = TERMINAL) -> RawCall:
    """A Verify that declares 50 MiB and sends its first 256 KiB (whatever flow control admits)."""
    call = RawCall(d.home / "pki", terminal, d.running.port, VERIFY)
    call.send(RawCall.message(b"\x0a" * (256 * 1024), declared=50 * 1024 * 1024))
    return call


def test_a_request_that_stops_short_is_ended_within_the_receive_bound(deployment: Deployment) -> None:
    d = deployment
    bound = d.running.gateway.config.request_receive_s
    call = _held_verify(d)
    try:
        answer = call.answer(within_s=bound + 30)
    finally:
        call.close()
    assert answer.status == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], answer
    assert f"request not received within {bound:g} s" in answer.message
    assert bound - 1 <= answer.seconds < bound + 30


def test_one_terminal_has_a_bounded_number_of_requests_arriving(deployment: Deployment) -> None:
    d = deployment
    limit = d.running.gateway.config.receiving_per_terminal
    held = [_held_verify(d) for _ in range(limit)]
    try:
        extra = _held_verify(d)
        try:
            refused = extra.answer(within_s=10)
        finally:
            extra.close()
        assert refused.status == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], refused
        assert f"at most {limit} requests of one terminal arriving at once" in refused.message
        assert refused.seconds < 5  # at once, not after the receive bound
        # Another terminal is not affected, nor this one's calls once its requests are ended.
        with d.client("desk-02") as other:
            assert other.verification.GetAttestationKeys(pb.GetAttestationKeysRequest(), timeout=30).jwks_json
    finally:
        for call in held:
            call.close()


def test_two_messages_on_a_unary_method_are_refused(deployment: Deployment) -> None:
    d = deployment
    call = RawCall(d.home / "pki", TERMINAL, d.running.port, KEYS)
    body = pb.GetAttestationKeysRequest().SerializeToString()
    try:
        call.send(RawCall.message(body) + RawCall.message(body), end=True)
        answer = call.answer(within_s=30)
    finally:
        call.close()
    assert answer.status == grpc.StatusCode.INVALID_ARGUMENT.value[0], answer
    assert "a unary call carries one request message" in answer.message


@pytest.fixture(autouse=True)
def _terminal_still_works(deployment: Deployment) -> object:
    """After each test the probing terminal's ordinary calls still go through."""
    yield None
    with deployment.client(TERMINAL) as client:
        assert client.verification.GetAttestationKeys(pb.GetAttestationKeysRequest(), timeout=30).jwks_json


def _closed_after(sock: socket.socket, within_s: float) -> float:
    start = time.monotonic()
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):  # drain until the server closes (an empty read)
            continue
    except TimeoutError:
        pytest.fail(f"connection still open after {within_s} s")
    except OSError:  # reset by the server: closed as well
        return time.monotonic() - start
    return time.monotonic() - start


def test_a_connection_that_never_finishes_its_handshake_is_closed(deployment: Deployment) -> None:
    """gRPC's default lets a socket that sends nothing hold a descriptor for 120 s."""
    bound = deployment.running.gateway.config.handshake_timeout_s
    silent = socket.create_connection(("127.0.0.1", deployment.running.port), timeout=30)
    try:
        took = _closed_after(silent, bound + 20)
    finally:
        silent.close()
    assert bound - 1 <= took < bound + 20
    # a TLS client that stops after its ClientHello's first bytes fares the same
    raw = socket.create_connection(("127.0.0.1", deployment.running.port), timeout=30)
    try:
        raw.sendall(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03")
        assert _closed_after(raw, bound + 20) < bound + 20
    finally:
        raw.close()
    # and so does a terminal that completes TLS and never starts HTTP/2
    tls = tls_context(deployment.home / "pki", TERMINAL).wrap_socket(
        socket.create_connection(("127.0.0.1", deployment.running.port), timeout=30),
        server_hostname="localhost",
    )
    try:
        assert _closed_after(tls, bound + 20) < bound + 20
    finally:
        tls.close()


def test_an_ordinary_burst_from_one_terminal_is_not_refused(deployment: Deployment) -> None:
    """Second review, 2026-12-03: counted from their headers, 8 concurrent small calls on one
    channel lost 4 to the arriving bound. Only a request still arriving after a grace counts."""
    from concurrent.futures import ThreadPoolExecutor

    with deployment.client(TERMINAL) as client:

        def keys(_: int) -> str:
            return str(
                client.verification.GetAttestationKeys(pb.GetAttestationKeysRequest(), timeout=30).jwks_json
            )

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(keys, range(32)))
    assert len(answers) == 32 and all(answers)

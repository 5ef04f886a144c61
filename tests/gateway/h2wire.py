"""A gRPC call written frame by frame with the `h2` library, over the terminal's mutual TLS: what
an attacker's client can do and a gRPC client never does (declare a message and stop sending it,
send two messages on a unary method), to test the gateway's bounds on the wire."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import struct
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events

from bhytgate.pki.devca import PkiLayout


@dataclasses.dataclass
class Answer:
    """What the server sent on the stream: its status (None: the stream ended without one)."""

    status: int | None
    message: str
    seconds: float  # from the last byte sent to the answer
    reset: bool = False


def tls_context(pki: Path, terminal: str) -> ssl.SSLContext:
    layout = PkiLayout(pki)
    ctx = ssl.create_default_context(cafile=str(layout.ca_cert))
    ctx.load_cert_chain(str(layout.terminal_cert(terminal)), str(layout.terminal_key(terminal)))
    ctx.set_alpn_protocols(["h2"])
    return ctx


class RawCall:
    """One HTTP/2 connection with one gRPC stream on it."""

    def __init__(self, pki: Path, terminal: str, port: int, method: str) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock = tls_context(pki, terminal).wrap_socket(raw, server_hostname="localhost")
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            self.stream,
            [
                (":method", "POST"),
                (":scheme", "https"),
                (":path", method),
                (":authority", f"localhost:{port}"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("grpc-timeout", "120S"),
            ],
        )
        self._flush()
        self.sent_at = time.monotonic()

    def _flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def send(self, data: bytes, *, end: bool = False) -> int:
        """Sends as much of `data` as flow control allows now; returns the bytes sent."""
        window = min(self.conn.local_flow_control_window(self.stream), len(data))
        frame = self.conn.max_outbound_frame_size
        sent = 0
        while sent < window:
            size = min(frame, window - sent)
            self.conn.send_data(self.stream, data[sent : sent + size])
            sent += size
        if end and sent == len(data):
            self.conn.end_stream(self.stream)
        self._flush()
        self.sent_at = time.monotonic()
        return sent

    @staticmethod
    def message(body: bytes, declared: int | None = None) -> bytes:
        """A gRPC length-prefixed message; `declared` may claim more bytes than `body` has."""
        return b"\x00" + struct.pack(">I", len(body) if declared is None else declared) + body

    def answer(self, within_s: float) -> Answer:
        """Reads until the server ends the stream (trailers or reset), at most `within_s`."""
        deadline = time.monotonic() + within_s
        status: int | None = None
        message = ""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                return Answer(status, message, time.monotonic() - self.sent_at, reset=True)
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    if "grpc-status" in headers:
                        status = int(headers["grpc-status"])
                        message = headers.get("grpc-message", "")
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset) and (
                    event.stream_id == self.stream
                ):
                    reset = isinstance(event, h2.events.StreamReset)
                    return Answer(status, message, time.monotonic() - self.sent_at, reset=reset)
                if isinstance(event, h2.events.ConnectionTerminated):
                    return Answer(status, message, time.monotonic() - self.sent_at, reset=True)
            self._flush()
        raise TimeoutError(f"no answer within {within_s} s")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

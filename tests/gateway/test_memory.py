"""What refused requests cost the serving process, measured on a real `bhytgate serve` subprocess.

The attack: a 60 MB frame refused with INVALID_ARGUMENT left ~130 MB resident per call until the
garbage collector ran (27 calls: 316 MB → 2.8 GB); 4 x 40 MB refused with PERMISSION_DENIED kept
+327 MB. The request, its parsed copy and the frame copies stayed reachable from a reference cycle
(the AbortError that grpc keeps on the call state, its traceback through the handler's frames).

Now each RPC has its own size limit (service/wire.py), checked before parsing; the server-wide
limit is the largest of them; and a refused call keeps nothing. The bound asserted here: the
server's resident memory after the whole series (26 calls, ~1.3 GB) is within RSS_BOUND_MB of what
it was before, and within PEAK_BOUND_MB of it at any point (one call in flight at a time).

Without the cycle, what stayed was glibc's: the freed chunks of gRPC's receive buffers, resident
in its per-thread arenas (a plateau of +90 to +220 MB, whatever the number of calls). After a large
refused request the servicer now asks glibc to return them (wire.release_freed_memory): 30 calls
of 50 MB stay within ~25 MB of the start. Before the fix the same calls added ~105 MB each until a
collection (30 calls of 50 MB: 88 MB → 2.0 GB; 10 x 42 MB wrong-role calls: 89 MB → 1.06 GB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.pki.devca import write_dev_pki
from bhytgate.service.config import load_config
from bhytgate.service.wire import RequestLimits
from bhytgate_clients.devsetup import DEV_TERMINALS

pytestmark = pytest.mark.slow

MB = 1_000_000
RSS_BOUND_MB = 150  # growth over the series: what stays resident after the calls
PEAK_BOUND_MB = 400  # VmHWM over the start: the largest call's bytes, its parsed copy, gRPC buffers
JPEG = b"\xff\xd8\xff\xe0"


def _rss_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for pid {pid}")


class Served:
    def __init__(self, home: Path, proc: subprocess.Popen[bytes], info: dict[str, object]) -> None:
        self.home, self.proc, self.info = home, proc, info
        self.pid = int(str(info["pid"]))
        self.address = str(info["address"])

    def channel(self, terminal: str) -> grpc.Channel:
        pki = self.home / "pki"
        credentials = grpc.ssl_channel_credentials(
            (pki / "ca.pem").read_bytes(),
            (pki / "terminals" / f"{terminal}.key").read_bytes(),
            (pki / "terminals" / f"{terminal}.pem").read_bytes(),
        )
        options = [("grpc.max_send_message_length", 128 * MB), ("grpc.enable_retries", 0)]
        return grpc.secure_channel(self.address, credentials, options=options)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`bhytgate serve` in its own process: one face worker, mTLS with the dev terminals, no demo
    citizens (nothing here reaches the face or the database)."""
    home = tmp_path_factory.mktemp("memory-home")
    write_dev_pki(load_config(home).pki_dir, DEV_TERMINALS)
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bhytgate_clients.cli import main; main()",
            "serve",
            "--home",
            str(home),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-demo",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    info_path = home / "gateway.json"
    deadline = time.monotonic() + 180
    while not info_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"bhytgate serve did not start:\n{(home / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.5)
    time.sleep(0.5)  # the file is written once the server listens
    try:
        yield Served(home, proc, json.loads(info_path.read_text()))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _verify(frames: list[bytes], terminal: str) -> bytes:
    now = int(time.time() * 1000)
    return pb.VerifyRequest(
        challenge_id="0" * 32,
        terminal_id=terminal,
        qr=pb.QrCredential(qr_text="079099001234|||||", qr_kind=pb.QR_KIND_CCCD_QR),
        frames=[pb.CaptureFrame(image=f, timestamp_ms=now + i) for i, f in enumerate(frames)],
        operator=pb.Operator(full_name="Lê Thu Hà", cccd_number="001185000123"),
    ).SerializeToString()


def _call(channel: grpc.Channel, path: str, body: bytes) -> grpc.RpcError:
    method = channel.unary_unary(path)  # no serializers: the bytes go as they are
    with pytest.raises(grpc.RpcError) as err:
        method(body, timeout=120)
    return err.value


def test_refused_requests_do_not_accumulate_memory(served: Served) -> None:
    limits = RequestLimits.from_config(load_config(served.home))
    verify_limit, enrol_limit = limits.limit("Verify"), limits.limit("EnrollTemplate")
    assert limits.largest == verify_limit
    pid = served.pid
    verify_path = "/bhytgate.v1.VerificationService/Verify"
    enrol_path = "/bhytgate.v1.CounterService/EnrollTemplate"

    over_global = _verify([JPEG + b"\x00" * (60 * MB)], "desk-01")  # 60 MB: above every limit
    big_frame = _verify([JPEG + b"\x00" * (50 * MB)], "desk-01")  # parsed, one frame over 4 MiB
    garbage = b"\xff" * (45 * MB)  # not a protobuf message
    enrol_over = pb.EnrollTemplateRequest(
        verification_id="0" * 32,
        frames=[pb.CaptureFrame(image=JPEG + b"\x00" * (enrol_limit + 1000), timestamp_ms=1)],
        operator=pb.Operator(full_name="Lê Thu Hà", cccd_number="001185000123"),
    ).SerializeToString()
    frame = JPEG + b"\x00" * (4 * 1024 * 1024 - 100)  # within max_frame_bytes
    wrong_role = _verify([frame] * 10, "admin-01")  # ~42 MB, well-formed: refused for the role
    assert len(over_global) > verify_limit and len(big_frame) < verify_limit
    assert enrol_limit < len(enrol_over) < limits.largest and 40 * MB < len(wrong_role) < verify_limit

    with (
        served.channel("desk-01") as desk,
        served.channel("counter-01") as counter,
        served.channel("admin-01") as admin,
    ):
        # A small call first: the channel, TLS session and handler code are in place.
        small = _call(desk, verify_path, _verify([JPEG], "desk-02"))
        assert small.code() == grpc.StatusCode.PERMISSION_DENIED
        start = _rss_kb(pid)
        start_peak = _rss_kb(pid, "VmHWM")
        series = [
            *[(desk, verify_path, over_global, grpc.StatusCode.RESOURCE_EXHAUSTED)] * 5,
            *[(desk, verify_path, big_frame, grpc.StatusCode.INVALID_ARGUMENT)] * 8,
            *[(desk, verify_path, garbage, grpc.StatusCode.INVALID_ARGUMENT)] * 7,
            *[(counter, enrol_path, enrol_over, grpc.StatusCode.INVALID_ARGUMENT)] * 2,
            *[(admin, verify_path, wrong_role, grpc.StatusCode.PERMISSION_DENIED)] * 4,
        ]
        samples: list[int] = []
        for channel, path, body, code in series:
            error = _call(channel, path, body)
            assert error.code() == code, (path, len(body), error.code(), error.details())
            samples.append(_rss_kb(pid))
        # Messages: say which limit (our own, below gRPC's), and what is wrong with the body.
        details = _call(counter, enrol_path, enrol_over).details() or ""
        assert f"request of {len(enrol_over)} bytes exceeds {enrol_limit} for EnrollTemplate" in details
        details = _call(desk, verify_path, garbage).details() or ""
        assert details == "request body is not a valid VerifyRequest"
        time.sleep(1.0)  # the server finishes its side of the last call after the client has the status
        end = _rss_kb(pid)
        peak = _rss_kb(pid, "VmHWM")

    sent = sum(len(body) for _, _, body, _ in series) / MB
    growth = (end - start) / 1000
    print(
        f"\nserver RSS: {start / 1000:.0f} MB before, {end / 1000:.0f} MB after {len(series)} refused "
        f"calls ({sent:.0f} MB sent); growth {growth:+.0f} MB (bound {RSS_BOUND_MB}); "
        f"max during the series {max(samples) / 1000:.0f} MB; VmHWM {start_peak / 1000:.0f} → "
        f"{peak / 1000:.0f} MB"
    )
    print("RSS after each call, MB:", [s // 1000 for s in samples])
    assert growth < RSS_BOUND_MB
    assert (max(samples) - start) / 1000 < PEAK_BOUND_MB
    log = (served.home / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log and "Unexpected" not in log, log[-3000:]

"""Shutdown and worker death, with real processes: `bhytgate serve` in a subprocess, SIGTERM, kill -9,
a check in flight; and the face pool losing a worker under load.

No process may outlive the gateway: the face workers (each ~200 MB with its models) and the
multiprocessing resource tracker must be gone after a SIGTERM and, on their own, after a kill -9."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import bhytgate
import bhytgate_clients
from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.face import FaceConfig, FaceEngine
from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate.service.config import load_config
from bhytgate.service.workers import FaceJob, FaceOutcome, FacePool, FaceUnavailable
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import chip_photo_source, read_chip_files
from bhytgate_clients.devsetup import DevHome, ensure_dev_home
from bhytgate_clients.sdk import GatewayClient, Operator

from .conftest import ServerThread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

CODE = [Path(bhytgate.__file__).resolve().parents[1], Path(bhytgate_clients.__file__).resolve().parents[1]]
OPERATOR = Operator("Lê Thu Hà", "001185000123")
CLI = [sys.executable, "-c", "from bhytgate_clients.cli import main; main()"]  # `bhytgate`


# --- processes -------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    """The subprocess runs the code under test, whatever the virtualenv's editable install says."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, CODE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has exited


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                pids = {int(p) for p in children.read_text().split()}
            except (FileNotFoundError, ProcessLookupError):
                continue
            todo.extend(pids - found)
            found |= pids
    return found


def wait_gone(pids: set[int], timeout: float) -> tuple[set[int], float]:
    start = time.monotonic()
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() - start < timeout:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left, time.monotonic() - start


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


class Served:
    """`bhytgate serve` in a subprocess; its output goes to files (a pipe would be held open by any
    child that outlived it)."""

    def __init__(self, home: Path, *args: str, workers: int = 1) -> None:
        self.home = home
        (home / "gateway.json").unlink(missing_ok=True)
        self.out = home / "serve.out"
        self.err = home / "serve.err"
        command = [*CLI, "serve"]
        command += ["--home", str(home), "--no-demo", "--listen", "127.0.0.1:0", "--workers", str(workers)]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([*command, *args], stdout=out, stderr=err, env=_env())
        self.workers = workers

    def logs(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120) -> set[int]:
        """Wait until it listens; returns its child processes (the workers and resource tracker)."""
        deadline = time.monotonic() + timeout
        info = self.home / "gateway.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited with {self.proc.returncode}:\n{self.logs()}")
            if info.exists() and "to stop" in self.out.read_text(errors="replace"):
                assert json.loads(info.read_text())["pid"] == self.proc.pid
                children = descendants(self.proc.pid)
                workers = [p for p in children if "spawn_main" in cmdline(p)]
                assert len(workers) == self.workers, [cmdline(p) for p in children]
                assert any("resource_tracker" in cmdline(p) for p in children), [cmdline(p) for p in children]
                return children
            time.sleep(0.1)
        pytest.fail(f"serve not ready after {timeout} s:\n{self.logs()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:  # whatever a failing test left running
        server.kill()
        stray = {p for p in descendants(server.proc.pid) if alive(p)}
        for pid in stray:
            os.kill(pid, signal.SIGKILL)


def _stopped_line(logs: str) -> float:
    line = next(line for line in logs.splitlines() if "gateway stopped in" in line)
    return float(line.split("gateway stopped in", 1)[1].split()[0])


# --- SIGTERM and kill -9 of `bhytgate serve` -----------------------------------------------------


@pytest.mark.slow
def test_sigterm_exits_zero_and_leaves_no_process(tmp_path: Path, served: list[Served]) -> None:
    server = Served(tmp_path, "--plaintext", workers=2)
    served.append(server)
    children = server.wait_ready()
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0, server.logs()
    exited = time.monotonic() - start
    left, settled = wait_gone(children, 3.0)
    assert not left, f"still running after SIGTERM: {[cmdline(p) for p in left]}"
    logged = _stopped_line(server.logs())
    print(
        f"\nSIGTERM, idle, 2 workers: exit 0 after {exited:.2f} s (server: {logged:.2f} s);"
        f" every child gone {settled:.2f} s later"
    )
    assert exited < 10
    assert not (tmp_path / "gateway.json").exists()


@pytest.mark.slow
def test_workers_exit_on_their_own_when_the_server_is_killed(tmp_path: Path, served: list[Served]) -> None:
    server = Served(tmp_path, "--plaintext", workers=2)
    served.append(server)
    children = server.wait_ready()
    server.proc.kill()  # kill -9: no handler, no clean-up runs in the server
    server.proc.wait(10)
    left, took = wait_gone(children, 3.0)
    assert not left, f"outlived the server: {[cmdline(p) for p in left]}"
    print(f"\nkill -9: workers and resource tracker gone {took:.2f} s after the server")


@pytest.mark.slow
def test_a_second_gateway_on_a_port_in_use_refuses_to_start_and_leaves_nothing(
    tmp_path: Path, served: list[Served]
) -> None:
    """gRPC sets SO_REUSEPORT unless told not to: a second `bhytgate serve` on the first one's port
    then bound it too and took part of the terminals' calls into its own database, silently."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Served(tmp_path / "a", "--plaintext")
    served.append(first)
    first.wait_ready()
    address = json.loads((tmp_path / "a" / "gateway.json").read_text())["address"]
    second = Served(tmp_path / "b", "--plaintext", "--listen", address)
    served.append(second)
    seen: set[int] = set()  # its workers, sampled while it runs: once reaped it has no children
    deadline = time.monotonic() + 120
    while second.proc.poll() is None and time.monotonic() < deadline:
        seen |= descendants(second.proc.pid)
        time.sleep(0.05)
    assert second.proc.wait(1) == 2, second.logs()
    assert seen, "the second gateway started no worker before it tried the port"
    assert f"bhytgate serve: error: could not bind {address}: the port is in use" in second.logs()
    assert "Traceback" not in second.logs()
    assert not (tmp_path / "b" / "gateway.json").exists()
    left, _ = wait_gone(seen, 3.0)
    assert not left, [cmdline(p) for p in left]
    # The first one still serves on its port.
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert first.proc.poll() is None


def test_a_start_that_fails_after_binding_releases_the_port_and_the_workers(tmp_path: Path) -> None:
    """In-process (tests, embedding): a gateway whose metrics port is taken fails to start with a
    message naming that port, and gives back its gRPC port and its face workers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        grpc_port = probe.getsockname()[1]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        config = load_config(
            tmp_path, listen=f"127.0.0.1:{grpc_port}", workers=1, plaintext=True, metrics_port=taken
        )
        before = {p for p in descendants(os.getpid()) if "spawn_main" in cmdline(p)}
        with pytest.raises(OSError, match=f"metrics port {taken}: Address already in use"):
            ServerThread(config).start()
    started = {p for p in descendants(os.getpid()) if "spawn_main" in cmdline(p)} - before
    left, _ = wait_gone(started, 5.0)
    assert not left, [cmdline(p) for p in left]
    with socket.socket() as again:  # the gRPC port is free again
        again.bind(("127.0.0.1", grpc_port))


def test_a_listen_name_is_refused_when_any_of_its_addresses_is_taken(tmp_path: Path) -> None:
    """`localhost:P` with 127.0.0.1:P taken: gRPC alone bound [::1]:P and counted the name bound,
    so clients resolving localhost to 127.0.0.1 reached the other process."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = load_config(tmp_path, listen=f"localhost:{port}", workers=1, plaintext=True)
        with pytest.raises(RuntimeError, match=f"could not bind localhost:{port}"):
            ServerThread(config).start()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"listen": "127.0.0.1:99999"}, "listen address '127.0.0.1:99999': must be HOST:PORT"),
        ({"listen": "127.0.0.1:-1"}, "listen address '127.0.0.1:-1': must be HOST:PORT"),
        ({"listen": "127.0.0.1:"}, "listen address '127.0.0.1:': must be HOST:PORT"),
        ({"listen": ":50051"}, "listen address ':50051': the host must be"),
        ({"listen": "[::1:50051"}, "listen address '\\[::1:50051': the host must be"),
        ({"listen": "127.0.0.1:0", "console_listen": "127.0.0.1:70000"}, "console address '127.0.0.1:70000'"),
        ({"listen": "127.0.0.1:0", "metrics_port": 70000}, "metrics port 70000: a port is a number"),
    ],
)
def test_a_listen_address_that_is_not_one_is_refused_before_anything_starts(
    tmp_path: Path, flags: dict[str, object], message: str
) -> None:
    """Attack run 2026-12-02: gRPC keeps a port's low 16 bits and takes an empty port for 0, so
    `--listen 127.0.0.1:99999` served on 34463 (and wrote that into gateway.json), `:-1` on 65535,
    `127.0.0.1:` on a random port; the models loaded first. Now ValueError before the store opens."""
    from bhytgate.pki.devca import write_dev_pki

    config = load_config(tmp_path, workers=1, **flags)  # type: ignore[arg-type]
    write_dev_pki(config.pki_dir)
    before = {p for p in descendants(os.getpid()) if "spawn_main" in cmdline(p)}
    with pytest.raises(ValueError, match=message):
        ServerThread(config).start()
    assert {p for p in descendants(os.getpid()) if "spawn_main" in cmdline(p)} == before
    assert not (tmp_path / "gateway.db").exists()
    assert not (tmp_path / "gateway.json").exists()


def test_a_console_address_that_does_not_resolve_is_named(tmp_path: Path) -> None:
    """Attack run 2026-12-02: `--console nowhere.invalid:8443` ended the start with "[Errno -2]
    Name or service not known", naming neither the option nor the address."""
    from bhytgate.pki.devca import write_dev_pki

    config = load_config(tmp_path, listen="127.0.0.1:0", workers=1, console_listen="nowhere.invalid:8443")
    write_dev_pki(config.pki_dir)
    with pytest.raises(OSError, match=r"console address nowhere\.invalid:8443: "):
        ServerThread(config).start()


def test_a_second_gateway_on_the_same_sqlite_database_refuses_to_start(tmp_path: Path) -> None:
    """Attack run 2026-12-02: a second `bhytgate serve` on the same home and another port started
    and served the same SQLite database, but the document lock and the frame memory are in each
    process's memory: two simultaneous checks of one card could both read an empty history. The
    first holds the database until it stops; the second is refused before anything starts."""
    first = ServerThread(load_config(tmp_path, listen="127.0.0.1:0", workers=1, plaintext=True))
    first.start()
    try:
        second = load_config(tmp_path, listen="127.0.0.1:0", workers=1, plaintext=True, info_name="b.json")
        before = {p for p in descendants(os.getpid()) if "spawn_main" in cmdline(p)}
        with pytest.raises(RuntimeError, match=f"already served by another gateway \\(pid {os.getpid()}\\)"):
            ServerThread(second).start()
        assert {p for p in descendants(os.getpid()) if "spawn_main" in cmdline(p)} == before
        assert not (tmp_path / "b.json").exists()
    finally:
        first.stop()
    again = ServerThread(load_config(tmp_path, listen="127.0.0.1:0", workers=1, plaintext=True))
    again.start()  # released when the first stopped
    again.stop()


def test_a_start_that_fails_after_the_store_opened_releases_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 2026-12-02: a start that failed between opening the store and binding the port (the
    face workers not starting, the revocation list or the orphan sweep unreadable) kept the SQLite
    database's serving lock: the next start in the same process was refused as "already served by
    another gateway" (its own pid), and the store stayed open."""
    from bhytgate.service.workers import FacePool as Pool

    config = load_config(tmp_path, listen="127.0.0.1:0", workers=1, plaintext=True)

    async def no_workers(self: Pool) -> list[int]:
        raise RuntimeError("face workers did not start")

    with monkeypatch.context() as patched:
        patched.setattr(Pool, "start", no_workers)
        with pytest.raises(RuntimeError, match="face workers did not start"):
            ServerThread(config).start()
    again = ServerThread(config)
    again.start()  # not "already served by another gateway"
    again.stop()


def test_a_database_url_of_another_scheme_is_refused_as_such(tmp_path: Path) -> None:
    """Review 2026-12-02: the SQLite serving lock took `mysql://u@h/db` for a file path and the start
    failed with FileNotFoundError 'mysql:/u@h/db.serving' (or made that file) instead of saying
    the scheme is not supported."""
    config = load_config(
        tmp_path, listen="127.0.0.1:0", workers=1, plaintext=True, database_url="mysql://u@h/db"
    )
    with pytest.raises(ValueError, match="database URL scheme not supported: mysql://"):
        ServerThread(config).start()


# --- a check in flight ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> tuple[Path, DevHome]:
    home = tmp_path_factory.mktemp("shutdown-home")
    dev = ensure_dev_home(load_config(home), faces_dir, log=lambda *_: None)
    # The checks in flight below need a second or more of face work: a 4800x3600 frame, over the
    # default live-frame budget (3840x2160), admitted here.
    with (home / "gateway.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[face]\nmax_frame_pixels = 17_280_000\n")
    add_terminal(
        load_config(home).pki_dir,
        TerminalIdentity("stop-desk", "01001", "hospital-checkin", "desk"),  # type: ignore[arg-type]
    )
    return home, dev


def _slow_request(
    home: Path, dev: DevHome, faces: Path, identity: str, client: GatewayClient
) -> pb.VerifyRequest:
    """A genuine desk check whose frame is big enough for a second or more of face work."""
    from PIL import Image

    card = next(p for p in dev.cards if p.name.endswith(f"-{identity}"))
    rows = (faces / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    source = chip_photo_source(card)
    photos = [faces / r.split(",")[0] for r in rows if r.split(",")[1] == identity]
    photos = [p for p in photos if source is None or p.resolve() != source.resolve()]
    challenge = client.begin(terminal_kind="desk", operator=OPERATOR)
    frame = SimulatedCamera(photos).single(int(time.time() * 1000))[0]
    with Image.open(io.BytesIO(frame.image)) as image:
        big = image.convert("RGB").resize((4800, 3600))
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    proto = frame.to_proto()
    proto.image = out.getvalue()
    files = read_chip_files(card)
    return pb.VerifyRequest(
        challenge_id=challenge.challenge_id,
        terminal_id=client.terminal_id,
        chip=pb.ChipData(
            ef_sod=files["EF.SOD"],
            dg1=files["DG1"],
            dg2=files["DG2"],
            dg13=files["DG13"],
            dg14=files.get("DG14", b""),
            dg15=files.get("DG15", b""),
        ),
        active_auth=pb.ActiveAuthResponse(
            signatures=SimulatedChip.from_dump(card).answer_challenge(challenge.aa_challenge)
        ),
        frames=[proto],
        operator=OPERATOR.to_proto(),
    )


def _audit_bodies(home: Path) -> list[str]:
    db = sqlite3.connect(home / "gateway.db")
    try:
        return [row[0] for row in db.execute("SELECT body FROM audit_log ORDER BY seq")]
    finally:
        db.close()


def _wait_spent(home: Path, challenge_id: str, call: grpc.Future) -> None:
    """Until the check has spent its challenge (it is then owed an audit record)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not call.done():
        db = sqlite3.connect(home / "gateway.db")
        try:
            row = db.execute(
                "SELECT 1 FROM challenges WHERE challenge_id = ? AND consumed_at IS NOT NULL", (challenge_id,)
            ).fetchone()
        finally:
            db.close()
        if row:
            return
        time.sleep(0.01)
    pytest.fail("the check ended (or never started) before the signal could be sent")


def _audit_ok(home: Path) -> dict[str, object]:
    done = subprocess.run(
        [*CLI, "admin", "audit", "--offline", "--home", str(home)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.mark.slow
@pytest.mark.parametrize(
    ("grace", "identity"),
    [("10", "howard"), ("0.2", "biden")],
    ids=["grace-long-enough", "grace-too-short"],
)
def test_sigterm_with_a_check_in_flight_leaves_its_record(
    demo_home: tuple[Path, DevHome], faces_dir: Path, served: list[Served], grace: str, identity: str
) -> None:
    home, dev = demo_home
    server = Served(home, "--shutdown-grace", grace, workers=1)
    served.append(server)
    children = server.wait_ready()
    before = len(_audit_bodies(home))
    with GatewayClient.local("stop-desk", home=home, timeout_s=60) as client:
        request = _slow_request(home, dev, faces_dir, identity, client)
        call = client.verification.Verify.future(request, timeout=60)
        _wait_spent(home, request.challenge_id, call)
        assert not call.done()
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            response = call.result(timeout=60)
            outcome = f"completed: {pb.Decision.Name(response.decision)}"
        except grpc.RpcError as exc:
            response = None
            code = exc.code()
            # The server cancelled it at the end of the grace period: a clean status, not a crash.
            assert code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE), (code, exc.details())
            outcome = f"status {code.name}"
    assert server.proc.wait(30) == 0, server.logs()
    exited = time.monotonic() - start
    left, _ = wait_gone(children, 3.0)
    assert not left, [cmdline(p) for p in left]
    bodies = _audit_bodies(home)
    assert len(bodies) == before + 1, bodies[before:]  # exactly the check's record
    if grace == "10":
        assert response is not None, "a check within the grace period completes"
        assert response.verification_id in bodies[-1]
    else:
        assert response is None, "a check beyond the grace period is cancelled"
        assert "caller cancelled" in bodies[-1]
    report = _audit_ok(home)
    assert report["ok"] and report["record_count"] == len(bodies)
    print(
        f"\nSIGTERM with a check in flight (grace {grace} s): {outcome};"
        f" exit 0 after {exited:.2f} s (server: {_stopped_line(server.logs()):.2f} s)"
    )


@pytest.mark.slow
def test_a_second_signal_exits_at_once(
    demo_home: tuple[Path, DevHome], faces_dir: Path, served: list[Served]
) -> None:
    home, dev = demo_home
    server = Served(home, "--shutdown-grace", "30", workers=1)
    served.append(server)
    children = server.wait_ready()
    with GatewayClient.local("stop-desk", home=home, timeout_s=60) as client:
        request = _slow_request(home, dev, faces_dir, "obama", client)
        call = client.verification.Verify.future(request, timeout=60)
        _wait_spent(home, request.challenge_id, call)
        server.proc.send_signal(signal.SIGTERM)  # would wait for the check
        time.sleep(0.1)
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 128 + signal.SIGTERM, server.logs()
        took = time.monotonic() - start
        with pytest.raises(grpc.RpcError):
            call.result(timeout=30)
    left, _ = wait_gone(children, 3.0)
    assert not left, [cmdline(p) for p in left]
    assert took < 3, took
    assert "again: exiting now" in server.logs()


# --- the pool losing a worker --------------------------------------------------------------------


def _sleepy_job(engine: FaceEngine, job: FaceJob) -> FaceOutcome:
    time.sleep(job.now_ms / 1000)  # the job says how long it takes
    return FaceOutcome(chip_distance=0.3, threshold=0.5)


def test_a_dead_worker_fails_every_job_it_breaks_as_unavailable_and_rebuilds_once() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=2, queue_limit=2, job_fn=_sleepy_job)
        pids = await pool.start()
        try:
            assert len(pids) == 2 and pool.pids == pids
            jobs = [asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=3000))) for _ in range(2)]
            await asyncio.sleep(0.5)  # one job in each worker
            os.kill(pids[0], signal.SIGKILL)  # the OOM killer
            outcomes = await asyncio.gather(*jobs, return_exceptions=True)
            assert all(isinstance(o, FaceUnavailable) for o in outcomes), outcomes
            assert pool.rebuilds == 1
            # While the pool is being rebuilt a job is refused the same retryable way.
            with pytest.raises(FaceUnavailable):
                await pool.run(FaceJob(frames=(), now_ms=0))
            assert await pool.wait_ready()
            assert pool.rebuilds == 1
            new = pool.pids
            assert len(new) == 2 and not set(new) & set(pids)
            assert not any(alive(p) for p in pids)  # the broken pool's workers are reaped
            outcome = await pool.run(FaceJob(frames=(), now_ms=10), timeout=30)
            assert outcome.chip_distance == 0.3
            assert pool.inflight == 0
        finally:
            await pool.close()
        assert not any(alive(p) for p in new)

    asyncio.run(scenario())


def test_callers_that_see_the_break_at_different_times_share_one_rebuild() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=2, queue_limit=4, job_fn=_sleepy_job)
        pids = await pool.start()
        try:
            running = [asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=3000))) for _ in range(2)]
            queued = [asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=10))) for _ in range(2)]
            await asyncio.sleep(0.5)
            os.kill(pids[1], signal.SIGKILL)
            first = await asyncio.gather(*running, *queued, return_exceptions=True)
            assert all(isinstance(o, FaceUnavailable) for o in first), first
            assert await pool.wait_ready()
            # A caller that grabbed the broken pool before the rebuild and fails only now must not
            # tear down the new one.
            late = [
                asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=10), timeout=30)) for _ in range(3)
            ]
            assert all(o.threshold == 0.5 for o in await asyncio.gather(*late))
            assert pool.rebuilds == 1
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_close_kills_a_worker_stuck_in_a_job_within_its_bound() -> None:
    async def scenario() -> None:
        pool = FacePool(FaceConfig(), workers=1, queue_limit=0, job_fn=_sleepy_job)
        pool.stop_timeout = 0.5
        pids = await pool.start()
        stuck = asyncio.create_task(pool.run(FaceJob(frames=(), now_ms=60_000)))
        await asyncio.sleep(0.3)
        start = time.monotonic()
        await pool.close()
        took = time.monotonic() - start
        assert not any(alive(p) for p in pids)
        assert took < 4, took
        with pytest.raises(FaceUnavailable):  # not BrokenProcessPool; and no rebuild after close
            await stuck
        assert pool.rebuilds == 0 and pool.pids == []
        with pytest.raises(FaceUnavailable):
            await pool.run(FaceJob(frames=(), now_ms=0))

    asyncio.run(scenario())


# --- the worker's guard against outliving its parent ---------------------------------------------


def test_the_watchdog_ends_a_worker_whose_parent_died() -> None:
    """The fallback where PR_SET_PDEATHSIG is unavailable: polling the parent pid."""
    parent = (
        "import os, subprocess, sys\n"
        "code = 'from bhytgate.service.workers import _watch_parent as w; print(1, flush=True); w(%d, 0.1)'\n"
        "p = subprocess.Popen([sys.executable, '-c', code % os.getpid()], stdout=subprocess.PIPE)\n"
        "assert p.stdout.readline()  # the orphan-to-be is watching\n"
        "print(p.pid, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, env=_env(), timeout=30
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    left, _ = wait_gone({pid}, 3.0)
    assert not left


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    """The race: the parent died before the worker's prctl took effect."""
    code = "import time; from bhytgate.service.workers import _die_with_parent as d; d(1); time.sleep(30)"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=_env(), timeout=30)
    assert done.returncode == 0 and time.monotonic() - start < 10

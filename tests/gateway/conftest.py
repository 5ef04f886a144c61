"""A real gateway on loopback with mTLS, face workers in spawned processes, SQLite, demo citizens."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate.service.config import load_config
from bhytgate.service.server import RunningGateway, start_gateway
from bhytgate_clients.devsetup import DevHome, ensure_dev_home
from bhytgate_clients.sdk import GatewayClient


class ServerThread:
    """The gateway's event loop in a background thread, as `bhytgate serve` runs it."""

    def __init__(self, config: object) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.running: RunningGateway | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.offset = dt.timedelta(0)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.running = self.loop.run_until_complete(start_gateway(self.config))  # type: ignore[arg-type]
            self.running.gateway.clock = lambda: dt.datetime.now(dt.UTC) + self.offset
        except BaseException as exc:  # surfaced to the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> RunningGateway:
        self.thread.start()
        self._ready.wait(180)
        if self._error is not None:
            raise self._error
        assert self.running is not None
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            asyncio.run_coroutine_threadsafe(self.running.stop(0.5), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@dataclasses.dataclass
class Deployment:
    home: Path
    dev: DevHome
    server: ServerThread
    running: RunningGateway
    faces: Path

    def client(self, terminal: str) -> GatewayClient:
        return GatewayClient.local(terminal, home=self.home, timeout_s=60)

    def card(self, identity: str) -> Path:
        return next(p for p in self.dev.cards if p.name.endswith(f"-{identity}"))

    def attack(self, name: str) -> Path:
        return self.dev.demo / "attacks" / name

    def shift_clock(self, delta: dt.timedelta) -> None:
        self.server.offset = delta


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("gateway-home")
    config = load_config(home, listen="127.0.0.1:0", workers=2, queue_limit=8)
    dev = ensure_dev_home(config, faces_dir, log=lambda *_: None)
    # Terminals of their own for the tests that send many rejections (attacks, probes): the
    # terminal rejection-rate rule would otherwise flag desk-01 for the other tests.
    for terminal in ("lab-desk", "clean-desk", "qr-desk", "probe-desk", "hangup-desk"):
        add_terminal(config.pki_dir, TerminalIdentity(terminal, "01001", "hospital-checkin", "desk"))  # type: ignore[arg-type]
    add_terminal(config.pki_dir, TerminalIdentity("signing-phone", "01001", "hospital-checkin", "phone"))  # type: ignore[arg-type]
    # Hà Nội's provincial BHXH office: imports entitlements of province 01 only.
    add_terminal(config.pki_dir, TerminalIdentity("hn-admin-01", "01000", "admin", "desk"))  # type: ignore[arg-type]
    config = load_config(  # picks up gateway.toml; stalled requests are ended after 5 s
        home,
        listen="127.0.0.1:0",
        workers=2,
        queue_limit=8,
        console_listen="127.0.0.1:0",
        claims_idle_s=5.0,
        request_receive_s=5.0,  # a unary request that stops short is ended after 5 s...
        request_min_rate_bytes_s=1 << 30,  # ...whatever its declared size
        handshake_timeout_s=5.0,
    )
    server = ServerThread(config)
    running = server.start()
    try:
        yield Deployment(home, dev, server, running, faces_dir)
    finally:
        server.stop()


@pytest.fixture
def clock(deployment: Deployment) -> Iterator[Callable[[dt.timedelta], None]]:
    yield deployment.shift_clock
    deployment.shift_clock(dt.timedelta(0))

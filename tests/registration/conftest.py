"""A real gateway (mTLS on loopback, face workers, SQLite, demo citizens) whose remote registration
trusts a platform integrity key the test suite made, configured through gateway.toml."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway.conftest import ServerThread

from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate.service.config import load_config
from bhytgate.service.server import RunningGateway
from bhytgate_clients.devsetup import DevHome, ensure_dev_home
from bhytgate_clients.sdk import GatewayClient

from .platform_lab import PACKAGE, Platform, pem

PHONES = ("reg-phone-a1", "reg-phone-a2", "reg-phone-b", "reg-phone-c", "reg-phone-limit", "reg-phone-x")
DEVICE_ATTEMPTS = 4
CCCD_ATTEMPTS = 4

REGISTRATION_TOML = f"""
[registration]
device_attempts = {DEVICE_ATTEMPTS}
device_window_s = 3600
cccd_attempts = {CCCD_ATTEMPTS}
cccd_window_s = 86400

[registration.integrity]
algorithms = ["ES256"]
max_age_s = 300
package_names = ["{PACKAGE}"]
on_missing = "review"
on_invalid = "reject"
on_verdict_failed = "review"

[[registration.integrity.keys]]
kid = "play-1"
alg = "ES256"
pem_file = "keys/play-integrity.pem"
"""


@dataclasses.dataclass
class RegistrationDeployment:
    home: Path
    dev: DevHome
    running: RunningGateway
    faces: Path
    platform: Platform

    def client(self, terminal: str) -> GatewayClient:
        return GatewayClient.local(terminal, home=self.home, timeout_s=60)

    def card(self, identity: str) -> Path:
        return next(p for p in self.dev.cards if p.name.endswith(f"-{identity}"))


@pytest.fixture(scope="session")
def registration_gateway(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path
) -> Iterator[RegistrationDeployment]:
    home = tmp_path_factory.mktemp("registration-home")
    config = load_config(home, listen="127.0.0.1:0", workers=2, queue_limit=8)
    dev = ensure_dev_home(config, faces_dir, log=lambda *_: None)
    for terminal in PHONES:
        add_terminal(config.pki_dir, TerminalIdentity(terminal, "01001", "hospital-checkin", "phone"))  # type: ignore[arg-type]
    platform = Platform()
    (home / "keys").mkdir(exist_ok=True)
    (home / "keys" / "play-integrity.pem").write_text(pem(platform.es256.public_key()), encoding="ascii")
    with (home / "gateway.toml").open("a", encoding="utf-8") as fh:
        fh.write(REGISTRATION_TOML)
    config = load_config(home, listen="127.0.0.1:0", workers=2, queue_limit=8)
    assert config.registration.integrity.configured
    server = ServerThread(config)
    running = server.start()
    try:
        yield RegistrationDeployment(home, dev, running, faces_dir, platform)
    finally:
        server.stop()

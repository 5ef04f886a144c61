"""Terminal ids repeat across facilities (each hospital names its own desk-01): a terminal is its id
*at its facility*. Attack run 2026-12-03: another facility's terminal of the same id flagged this
one's check-ins for REVIEW by sending bogus Verifies, spent its challenges, and took its
ReconcileClaims slots. Over the wire, with a certificate for the same id at facility 79014."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.pki.devca import PkiLayout, TerminalIdentity, add_terminal
from bhytgate_clients.sdk import GatewayClient

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import _begin_and_request, check

TWIN = "twin-rules-desk"


@pytest.fixture(scope="module")
def twins(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`twin-desk` at 01001 in the deployment's PKI, and a PKI copy whose `twin-desk` is at 79014
    (same CA: both certificates are the gateway's)."""
    d = deployment
    add_terminal(d.home / "pki", TerminalIdentity(TWIN, "01001", "hospital-checkin", "desk"))  # type: ignore[arg-type]
    other = tmp_path_factory.mktemp("twin") / "pki"
    shutil.copytree(d.home / "pki", other)
    add_terminal(other, TerminalIdentity(TWIN, "79014", "hospital-checkin", "desk"))  # type: ignore[arg-type]
    yield other


def _other(d: Deployment, pki: Path) -> GatewayClient:
    layout = PkiLayout(pki)
    return GatewayClient.connect(
        f"127.0.0.1:{d.running.port}",
        terminal_id=TWIN,
        ca=layout.ca_cert,
        cert=layout.terminal_cert(TWIN),
        key=layout.terminal_key(TWIN),
        timeout_s=60,
    )


def test_a_twin_at_another_facility_cannot_spend_a_challenge(deployment: Deployment, twins: Path) -> None:
    d = deployment
    card = d.card("howard")
    with d.client(TWIN) as mine, _other(d, twins) as theirs:
        _, request = _begin_and_request(d, card, mine)
        stolen = theirs.verification.Verify(request, timeout=60)
        assert [r.code for r in stolen.reasons] == [pb.REASON_CODE_CHALLENGE_TERMINAL_MISMATCH]
        # nor burn it for its owner
        own = mine.verification.Verify(request, timeout=60)
    assert own.decision == pb.DECISION_ACCEPTED, own.reasons


def test_a_twins_rejections_do_not_flag_this_terminal(
    deployment: Deployment, twins: Path, tmp_path: Path
) -> None:
    d = deployment
    policy = d.running.gateway.config.policy
    with _other(d, twins) as theirs:
        _, bogus = _begin_and_request(d, d.card("howard"), theirs)
        for _ in range(policy.terminal_min_rejections + 2):
            bogus.challenge_id = secrets.token_hex(16)  # no challenge, card or face needed
            answer = theirs.verification.Verify(bogus, timeout=60)
            assert [r.code for r in answer.reasons] == [pb.REASON_CODE_CHALLENGE_UNKNOWN]
    card, photos = fresh_card(d, tmp_path / "card", "twin-2")
    mine = check(d, card, photos=photos, terminal=TWIN)
    assert mine.decision == "ACCEPTED", mine.reasons

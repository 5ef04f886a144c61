"""Over gRPC: a kiosk check's face distance is the fused one (every embedded frame against the chip
photo), and a desk check's is its single frame's."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bhytgate.chip.lds.dg2 import parse_dg2
from bhytgate.face import Action, Challenge, FaceEngine, InMemoryFrameStore
from bhytgate_clients.cardlab import SimulatedChip
from bhytgate_clients.cardlab.camera import SimulatedCamera
from bhytgate_clients.cli.checkin import live_photos, read_chip_files
from bhytgate_clients.sdk import Frame
from bhytgate_clients.sdk.results import Challenge as WireChallenge

from .conftest import Deployment


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.mark.parametrize("person", ["sheldon", "howard"])
def test_kiosk_face_distance_fuses_the_embedded_frames(
    deployment: Deployment, engine: FaceEngine, person: str
) -> None:
    card = deployment.card(person)
    files = read_chip_files(card)
    chip = engine.chip_embedding(parse_dg2(files["DG2"])[0].image)
    camera = SimulatedCamera(live_photos(deployment.faces, card))
    sent: list[tuple[list[Frame], tuple[str, ...]]] = []

    def capture(challenge: WireChallenge) -> list[Frame]:
        now = int((dt.datetime.now(dt.UTC) + deployment.server.offset).timestamp() * 1000)
        frames = camera.burst(challenge.liveness_actions, start_ms=now)
        sent.append((frames, tuple(challenge.liveness_actions)))
        return frames

    with deployment.client("kiosk-01") as client:
        result = client.check_in(
            files,
            capture,
            answer_challenge=SimulatedChip.from_dump(card).answer_challenge,
            terminal_kind="kiosk",
        )
    assert result.decision == "ACCEPTED", result.reasons
    assert result.face_distance is not None and result.face_threshold == engine.config.match_threshold
    # The same burst through the library: which frames the verifier embedded, and their distances.
    frames, actions = sent[0]
    burst = [(f.image, f.timestamp_ms) for f in frames]
    t0 = burst[0][1] - 1
    local = Challenge(b"x" * 16, tuple(Action(a.lower()) for a in actions), t0, t0 + 20_000)
    evidence = engine.verify_liveness(local, burst, now_ms=burst[-1][1] + 1, store=InMemoryFrameStore())
    distances = [float(np.linalg.norm(e - chip)) for e in evidence.match_embeddings]
    peaks = {e.peak for e in evidence.events if e.action is not Action.BLINK}
    assert len(distances) == len({evidence.best_frame} | peaks)  # a frame is embedded once
    assert result.face_distance == pytest.approx(min(distances), abs=1e-4)
    if person == "sheldon":
        # A turn peak is nearer his chip photo than the frontal frame (measured 0.32-0.34 vs 0.36),
        # so a single-frame answer would not pass. (Howard's most frontal frame is his left-turn
        # peak on the mesh's yaw, so his frontal frame is already the nearest.)
        assert result.face_distance < distances[0] - 0.005

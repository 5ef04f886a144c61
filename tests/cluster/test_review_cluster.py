"""The review queue across replicas: a case opened on one replica is listed and resolved on
another, and the waiting terminal learns the outcome from the first."""

from __future__ import annotations

import datetime as dt

import pytest

from bhytgate.attestation import AttestationStatus, verify_attestation
from bhytgate.pki.devca import TerminalIdentity, add_terminal
from bhytgate_client.v1 import gateway_pb2 as pb
from bhytgate_clients.cardlab.camera import SimulatedCamera

from .conftest import Cluster
from .test_replicas import desk_check, photos

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_case_opened_on_one_replica_is_resolved_on_another(cluster: Cluster) -> None:
    card = cluster.card("kit-harington")
    camera = SimulatedCamera([p for p in photos(cluster, card) if p.name == "johnsnow_test1.jpg"])
    add_terminal(cluster.home / "pki", TerminalIdentity("reviewer-b", "79014", "reviewer", "desk"))  # type: ignore[arg-type]
    with cluster.client("desk-01", "a") as first, cluster.client("desk-b", "a") as second:
        assert desk_check(first, first, card, camera).decision == "ACCEPTED"
        review = desk_check(second, second, card, camera)  # facility 79014, on replica A
    assert review.decision == "REVIEW" and review.reason_codes == ["FRAUD_VELOCITY"], review.reasons
    with cluster.client("reviewer-b", "b") as reviewer:
        assert review.verification_id in {c.verification_id for c in reviewer.list_review_cases()}
        resolved = reviewer.resolve_review_case(review.verification_id, accept=True, reason="papers seen")
        jwks = reviewer.attestation_keys()
    assert resolved.review_case.state == pb.REVIEW_STATE_ACCEPTED and resolved.attestation
    with cluster.client("desk-b", "a") as waiting:
        outcome = waiting.wait_for_review(review.verification_id, timeout_s=10)
    assert outcome.review_case.state == pb.REVIEW_STATE_ACCEPTED
    assert outcome.attestation == resolved.attestation and outcome.entitlement.ma_the
    verdict = verify_attestation(outcome.attestation, jwks, dt.datetime.now(dt.UTC))
    assert verdict.status is AttestationStatus.OK and verdict.claims is not None
    assert verdict.claims.reviewer == "reviewer-b"
    store = cluster.store()
    try:
        bodies = [e.body for e in store.iter_audit() if review.verification_id in e.body]
    finally:
        store.close()
    assert len(bodies) == 2 and '"action":"review_resolved"' in bodies[1]

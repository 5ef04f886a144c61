"""Glue between storage and the pure rules: read the fraud facts, and persist their consequences.

Kept apart from `rules` so that the rules stay free of I/O; these helpers are the only place that
knows which store queries feed which rule.
"""

from __future__ import annotations

import datetime as dt

from bhytgate.policy.model import Decision, FraudSignals, PolicyConfig
from bhytgate.policy.rules import mismatch_lock_until
from bhytgate.storage.interface import Store, VerificationEvent


def qr_fraud_key(document_key: str) -> str:
    """Where a rejected QR attempt is counted. A QR proves nothing (anyone can print one with a
    real CCCD number): counted under the document, three forged QRs with the attacker's face
    locked the holder's chip check-in at every facility for 24 h and put the attacker's facility
    in the holder's velocity window (attack run, 2026-12-03). Under this key they lock the QR path
    of that document only; the holder with the card still checks in."""
    return "qr:" + document_key


def collect_fraud_signals(
    store: Store,
    *,
    document_key: str,
    facility: str,
    terminal_id: str,
    now: dt.datetime,
    policy: PolicyConfig,
    qr: bool = False,
) -> FraudSignals:
    """Read everything `decide` needs about this document and terminal (several short reads).
    `qr`: the document came from a QR, whose path is also locked by its own mismatches."""
    locks = [store.biometric_lock_until(document_key, now)]
    if qr:
        locks.append(store.biometric_lock_until(qr_fraud_key(document_key), now))
    until = max((u for u in locks if u is not None), default=None)
    return FraudSignals(
        now=now,
        reported_lost=store.is_reported_lost(document_key),
        facilities_in_window=store.facilities_since(document_key, now - policy.velocity_window),
        current_facility=facility,
        biometric_locked_until=until,
        terminal_recent=store.terminal_recent_decisions(
            facility, terminal_id, policy.terminal_window_decisions
        ),
    )


def record_outcome(
    store: Store,
    *,
    document_key: str,
    facility: str,
    terminal_id: str,
    decision: Decision,
    face_mismatch: bool,
    now: dt.datetime,
    policy: PolicyConfig,
) -> dt.datetime | None:
    """Record the event (every facility is kept, REVIEW included) and lock after repeated mismatches.

    Returns the new lock's end when this attempt triggered one.
    """
    store.record_verification(
        VerificationEvent(document_key, facility, terminal_id, decision.outcome.value, face_mismatch, now)
    )
    if not face_mismatch:
        return None
    count = store.face_mismatches_since(document_key, now - policy.mismatch_window)
    until = mismatch_lock_until(count, now, policy)
    if until is not None:
        store.lock_biometrics(document_key, until)
    return until

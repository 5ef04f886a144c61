"""Glue between storage and the pure rules: read the fraud facts, and persist their consequences.

Kept apart from `rules` so that the rules stay free of I/O; these helpers are the only place that
knows which store queries feed which rule.
"""

from __future__ import annotations

import datetime as dt

from bhytgate.policy.model import Decision, FraudSignals, PolicyConfig
from bhytgate.policy.rules import mismatch_lock_until
from bhytgate.storage.interface import Store, VerificationEvent


def collect_fraud_signals(
    store: Store,
    *,
    document_key: str,
    facility: str,
    terminal_id: str,
    now: dt.datetime,
    policy: PolicyConfig,
) -> FraudSignals:
    """Read everything `decide` needs about this document and terminal (several short reads)."""
    return FraudSignals(
        now=now,
        reported_lost=store.is_reported_lost(document_key),
        facilities_in_window=store.facilities_since(document_key, now - policy.velocity_window),
        current_facility=facility,
        biometric_locked_until=store.biometric_lock_until(document_key, now),
        terminal_recent=store.terminal_recent_decisions(terminal_id, policy.terminal_window_decisions),
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

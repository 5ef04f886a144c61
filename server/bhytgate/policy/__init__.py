"""Fraud rules and the decision combiner (pure), plus thin glue to the store (`collect`)."""

from bhytgate.policy.model import (
    CHIP_FAILURE_CODES,
    FACE_FAILURE_CODES,
    AssuranceLevel,
    CheckResults,
    Decision,
    DocumentSource,
    FaceMatch,
    FraudSignals,
    Outcome,
    PolicyConfig,
    Reason,
    ReasonCode,
    TerminalKind,
)
from bhytgate.policy.rules import (
    achieved_assurance,
    decide,
    mismatch_lock_until,
    terminal_flagged,
    velocity_exceeded,
)

__all__ = [
    "CHIP_FAILURE_CODES",
    "FACE_FAILURE_CODES",
    "AssuranceLevel",
    "CheckResults",
    "Decision",
    "DocumentSource",
    "FaceMatch",
    "FraudSignals",
    "Outcome",
    "PolicyConfig",
    "Reason",
    "ReasonCode",
    "TerminalKind",
    "achieved_assurance",
    "decide",
    "mismatch_lock_until",
    "terminal_flagged",
    "velocity_exceeded",
]

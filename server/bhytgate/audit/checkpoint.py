"""Signing audit checkpoints, and checking a log against checkpoints kept outside its database
(the format and its offline verifier: bhytgate_client.checkpoint)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from bhytgate.attestation.jws import ALGORITHM, public_jwk
from bhytgate.audit.chain import GENESIS_HASH, AuditEntry, ChainReport
from bhytgate_client.checkpoint import CHECKPOINT_TYP, AuditCheckpoint, CheckpointError, verify_checkpoint

__all__ = [
    "AuditCheckpoint",
    "CheckpointError",
    "check_checkpoints",
    "sign_checkpoint",
    "verify_checkpoint",
]


def sign_checkpoint(checkpoint: AuditCheckpoint, key: ec.EllipticCurvePrivateKey) -> str:
    kid = public_jwk(key.public_key())["kid"]
    return jwt.encode(
        checkpoint.to_payload(), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": CHECKPOINT_TYP}
    )


def _when(checkpoint: AuditCheckpoint) -> str:
    return checkpoint.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_checkpoints(
    entries: Iterable[AuditEntry], checkpoints: Sequence[AuditCheckpoint], count: int
) -> ChainReport:
    """`entries`: the log's records in order (`count` of them, a chain already verified). Each
    checkpoint's position must hold its head: a record there that differs was rewritten since, a
    log shorter than a checkpoint was truncated. Reports the earliest position that fails."""
    pending = sorted(checkpoints, key=lambda c: c.size)
    for cp in pending:
        if cp.size == 0 and cp.head != GENESIS_HASH:
            return ChainReport(
                False, 0, f"the checkpoint of {_when(cp)} is of an empty log with a head", count
            )
    by_position: dict[int, list[AuditCheckpoint]] = {}
    for cp in pending:
        if cp.size > count:
            return ChainReport(
                False,
                count,
                f"the log has {count} records, fewer than the {cp.size} of the checkpoint of {_when(cp)}"
                " (truncated)",
                count,
            )
        if cp.size > 0:
            by_position.setdefault(cp.size - 1, []).append(cp)
    if not by_position:
        return ChainReport(True, None, "ok", count)
    # Every position in turn: one the read never reaches (the log cut or changed since the chain
    # was verified: this is another pass over it) is reported, never taken as holding.
    positions = sorted(by_position)
    k = 0
    for entry in entries:
        if entry.seq > positions[k]:
            break
        if entry.seq == positions[k]:
            for cp in by_position[entry.seq]:
                if entry.hash != cp.head:
                    return ChainReport(
                        False,
                        entry.seq,
                        f"record {entry.seq} differs from the checkpoint of {_when(cp)} (rewritten since)",
                        count,
                    )
            k += 1
            if k == len(positions):
                return ChainReport(True, None, "ok", count)
    missing = positions[k]
    return ChainReport(
        False,
        missing,
        f"record {missing} could not be read for the checkpoint of {_when(by_position[missing][0])}"
        " (the log changed while it was checked)",
        count,
    )

"""Signed audit checkpoints: the gateway's word, at a moment, on how long its audit log was and the
hash of its last record; checked offline with `cryptography` only, as attestations are.

The audit log is a hash chain, so whoever can write the database could rewrite every record after
some point and recompute every hash: the chain would verify again. A checkpoint kept outside the
database (by the fund's auditor, say, once an hour: `bhytgate admin checkpoint >> checkpoints.jsonl`)
pins the chain: a later `bhytgate admin audit --checkpoints checkpoints.jsonl` finds the record at
each checkpoint's position changed, or the log shorter than a checkpoint said it was.

A checkpoint is a compact JWS (ES256, typ `bhytgate-audit-checkpoint+jwt`) under the gateway's
attestation key (the JWKS from GetAttestationKeys), with claims `iss` (the gateway), `size` (the
number of records), `head` (the last record's hash, 64 hex; the genesis hash for an empty log) and
`iat`. It says nothing about whether the chain verified when it was taken: keep checkpoints from a
log `admin audit` found intact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import Any

from bhytgate_client.attestation import ALGORITHM, KeyProblem, _es256_valid, _split, jwks_key

CHECKPOINT_TYP = "bhytgate-audit-checkpoint+jwt"
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_TOKEN_CHARS = 2048


class CheckpointError(ValueError):
    """A checkpoint that is not one of this gateway's (malformed, another key, a bad signature)."""


@dataclasses.dataclass(frozen=True, slots=True)
class AuditCheckpoint:
    issuer: str
    size: int  # records in the log when it was taken
    head: str  # hash of record size - 1 (hex)
    issued_at: dt.datetime

    def to_payload(self) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "size": self.size,
            "head": self.head,
            "iat": int(self.issued_at.timestamp()),
        }


def verify_checkpoint(token: str, jwks: str) -> AuditCheckpoint:
    """The checkpoint `token` says, if the JWKS's key signed it; CheckpointError otherwise."""
    if not token.isascii() or len(token) > MAX_TOKEN_CHARS:
        raise CheckpointError(f"not a checkpoint: ASCII, at most {MAX_TOKEN_CHARS} characters")
    try:
        header, payload_bytes, signature, signed = _split(token)
    except ValueError as exc:  # also JSON and Unicode errors
        raise CheckpointError(f"not a compact JWS: {exc}") from None
    if header.get("alg") != ALGORITHM or header.get("typ") != CHECKPOINT_TYP:
        raise CheckpointError(f"not an audit checkpoint (alg {ALGORITHM}, typ {CHECKPOINT_TYP})")
    try:
        key = jwks_key(header.get("kid"), jwks)
    except KeyProblem as exc:
        raise CheckpointError(f"not signed by a key of this gateway's JWKS: {exc}") from None
    if not _es256_valid(key, signature, signed):
        raise CheckpointError("bad signature")
    try:
        p = json.loads(payload_bytes)
        size, head, iat = p["size"], p["head"], p["iat"]
        if not (isinstance(size, int) and size >= 0 and isinstance(head, str) and _HEX64.fullmatch(head)):
            raise ValueError("size must be a count and head 64 hex")
        return AuditCheckpoint(str(p["iss"]), size, head, dt.datetime.fromtimestamp(int(iat), dt.UTC))
    except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
        raise CheckpointError(f"malformed claims: {exc}") from None

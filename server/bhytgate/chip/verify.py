"""One entry point for the chip side of a decision: parse, Passive and Active Authentication.

`verify_chip` never raises for a document that is merely forged or broken inside: those are
results with reasons. It raises `ChipFormatError` only when EF.SOD itself is unusable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from bhytgate.chip.active import ActiveResult, verify_active_authentication
from bhytgate.chip.dump import CardDump
from bhytgate.chip.errors import ChipError, typed_errors
from bhytgate.chip.lds.dg2 import FaceImage, parse_dg2
from bhytgate.chip.lds.dg13 import Dg13, parse_dg13
from bhytgate.chip.lds.mrz import ExpiryPolicy, Mrz, parse_dg1
from bhytgate.chip.lds.security import Dg14, parse_dg14, parse_dg15
from bhytgate.chip.lds.sod import parse_sod
from bhytgate.chip.passive import PassivePolicy, PassiveResult, verify_passive
from bhytgate.chip.trust.chain import RevocationPolicy
from bhytgate.chip.trust.store import TrustStore


@dataclasses.dataclass(frozen=True)
class ChipPolicy:
    passive: PassivePolicy = PassivePolicy()
    expiry: ExpiryPolicy = ExpiryPolicy()


CHIP_SETTINGS = frozenset(
    {"warn_only", "validity_time", "require_crl", "reject_stale_crl", "lenient_id_data", "no_expiry_values"}
)


def chip_policy_from_settings(settings: Mapping[str, Any]) -> ChipPolicy:
    """A `ChipPolicy` from a deployment's `[chip]` table; an unknown key or value is a ValueError
    (a typo must not silently leave a finding a failure, or make one a warning)."""
    unknown = set(settings) - CHIP_SETTINGS
    if unknown:
        raise ValueError(f"[chip]: unknown settings {', '.join(sorted(unknown))}")
    no_expiry = settings.get("no_expiry_values", sorted(ExpiryPolicy().no_expiry_values))
    return ChipPolicy(
        passive=PassivePolicy(
            allow_id_data=bool(settings.get("lenient_id_data", False)),
            revocation=RevocationPolicy(
                require_crl=bool(settings.get("require_crl", False)),
                stale_crl="reject" if settings.get("reject_stale_crl", False) else "warn",
            ),
            warn_only=frozenset(str(f) for f in settings.get("warn_only", ())),
            validity_time=settings.get("validity_time", "verification"),
        ),
        expiry=ExpiryPolicy(frozenset(str(v) for v in no_expiry)),
    )


@dataclasses.dataclass(frozen=True)
class DocumentData:
    """What the chip says about the holder; use a field only if its data group is authenticated."""

    mrz: Mrz | None
    dg13: Dg13 | None
    face: FaceImage | None
    dg14: Dg14 | None
    errors: dict[str, str]  # data group -> reason it did not parse

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.mrz is not None:
            m = self.mrz
            out["mrz"] = {
                "format": m.format,
                "document_code": m.document_code,
                "issuing_state": m.issuing_state,
                "document_number": m.document_number,
                "optional_data": m.optional_data,
                "date_of_birth": m.date_of_birth.isoformat() if m.date_of_birth else m.date_of_birth_raw,
                "sex": m.sex,
                "date_of_expiry": m.date_of_expiry.isoformat() if m.date_of_expiry else None,
                "no_expiry": m.no_expiry,
                "nationality": m.nationality,
                "name": m.full_name,
            }
        if self.dg13 is not None:
            out["dg13"] = self.dg13.as_dict()
        if self.face is not None:
            out["face_image"] = {
                "format": self.face.format,
                "bytes": len(self.face.image),
                "encoding": self.face.encoding,
                "width": self.face.width,
                "height": self.face.height,
            }
        if self.dg14 is not None:
            out["dg14"] = {
                "protocols": list(self.dg14.protocols),
                "aa_algorithm": self.dg14.aa_signature_algorithm,
            }
        if self.errors:
            out["errors"] = dict(self.errors)
        return out


@dataclasses.dataclass(frozen=True)
class ChipReport:
    passive: PassiveResult
    active: ActiveResult | None  # None when no challenge was given
    document: DocumentData

    @property
    def valid(self) -> bool:
        return self.passive.valid and (self.active is None or self.active.valid)

    def to_json(self) -> dict[str, Any]:
        p = self.passive
        return {
            "passive": {
                "valid": p.valid,
                "signature": {
                    "valid": p.signature.valid,
                    "reason": p.signature.reason,
                    "detail": p.signature.detail,
                },
                "chain": {
                    "valid": p.chain.valid,
                    "reason": p.chain.reason,
                    "detail": p.chain.detail,
                    "path": list(p.chain.path),
                },
                "country": {"valid": p.country.valid, "reason": p.country.reason},
                "data_groups": {str(n): s for n, s in p.data_groups.items()},
                "trailing_bytes": {str(n): k for n, k in p.trailing_bytes.items()},
                "hash_algorithm": p.hash_algorithm,
                "signer": p.signer.subject if p.signer else None,
                "reasons": p.reasons,
                "warnings": list(p.warnings),
                "content_type": p.content_type,
                "validity": {
                    "basis": p.validity_basis,
                    "at": p.validity_at.isoformat() if p.validity_at else None,
                },
            },
            "active": {
                "valid": None if self.active is None else self.active.valid,
                "reason": None if self.active is None else self.active.reason,
                "detail": None if self.active is None else self.active.detail,
            },
            "document": self.document.to_json(),
        }


def _parse_document(dump: CardDump, expiry: ExpiryPolicy, today: dt.date) -> DocumentData:
    errors: dict[str, str] = {}
    mrz = dg13 = face = dg14 = None
    if (data := dump.data_group(1)) is not None:
        try:
            mrz = parse_dg1(data, policy=expiry, today=today)
        except ChipError as exc:
            errors["DG1"] = exc.reason
    if (data := dump.data_group(2)) is not None:
        try:
            face = parse_dg2(data)[0]
        except ChipError as exc:
            errors["DG2"] = exc.reason
    if (data := dump.data_group(13)) is not None:
        try:
            dg13 = parse_dg13(data)
        except ChipError as exc:
            errors["DG13"] = exc.reason
    if (data := dump.data_group(14)) is not None:
        try:
            dg14 = parse_dg14(data)
        except ChipError as exc:
            errors["DG14"] = exc.reason
    return DocumentData(mrz, dg13, face, dg14, errors)


def _active(
    dump: CardDump,
    passive: PassiveResult,
    document: DocumentData,
    challenge: bytes,
    signatures: Sequence[bytes],
) -> ActiveResult:
    dg15 = dump.data_group(15)
    if dg15 is None:
        return ActiveResult(False, "aa_key_absent", "the dump has no DG15")
    if not passive.authenticated(15):
        status = passive.data_groups.get(15)
        return ActiveResult(
            False, "aa_key_unauthenticated", f"DG15 is {status}; passive authentication valid={passive.valid}"
        )
    try:
        key = parse_dg15(dg15)
    except ChipError as exc:
        return ActiveResult(False, "aa_key_invalid", exc.message)
    ec_hash = None
    if key.kind == "ec":
        if document.dg14 is None or not passive.authenticated(14):
            return ActiveResult(False, "aa_algorithm_unknown", "EC chip without an authenticated DG14")
        ec_hash = document.dg14.aa_hash
    return verify_active_authentication(key, challenge, list(signatures), ec_hash=ec_hash)


@typed_errors("chip data")
def verify_chip(
    dump: CardDump,
    store: TrustStore,
    *,
    at: dt.datetime | None = None,
    challenge: bytes | None = None,
    aa_signatures: Sequence[bytes] | None = None,
    policy: ChipPolicy | None = None,
) -> ChipReport:
    policy = policy or ChipPolicy()
    at = at or dt.datetime.now(dt.UTC)
    sod = parse_sod(dump.sod)
    document = _parse_document(dump, policy.expiry, at.date())
    issuing_state = document.mrz.issuing_state if document.mrz else None
    passive = verify_passive(sod, dump, store, at=at, issuing_state=issuing_state, policy=policy.passive)
    active = None
    if challenge is not None:
        active = _active(dump, passive, document, challenge, aa_signatures or [])
    return ChipReport(passive, active, document)

"""Passive Authentication (ICAO 9303 part 11, 5.1): is the chip data what the issuer signed?

Three independent checks, each with its own reason codes: the SOD signature (signed attributes
and the DS signature over them), the DS chain to a trusted CSCA, and every presented data group's
hash. A data group the SOD does not list is "unlisted": reported, and never to be used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
from typing import Literal

import pycountry

from bhytgate.chip.crypto.cms import (
    find_signer_certificate,
    signed_attributes_problem,
    signer_by_key,
    signing_time,
    verify_signer,
)
from bhytgate.chip.crypto.signatures import digest
from bhytgate.chip.crypto.x509 import Certificate
from bhytgate.chip.dump import CardDump
from bhytgate.chip.errors import ChipError
from bhytgate.chip.lds.sod import ID_DATA, LDS_CONTENT_TYPES, Sod
from bhytgate.chip.lds.tlv import first_tlv_length
from bhytgate.chip.trust.chain import (
    DEMOTABLE_FINDINGS,
    ChainResult,
    RevocationPolicy,
    validate_document_signer,
)
from bhytgate.chip.trust.store import TrustStore

DgStatus = Literal["match", "mismatch", "absent", "unlisted"]

# ICAO codes that are not ISO 3166-1 alpha-3 (ICAO 9303 part 3, 5)
_ICAO_SPECIAL = {"D": "DE", "GBD": "GB", "GBN": "GB", "GBO": "GB", "GBP": "GB", "GBS": "GB", "RKS": "XK"}


ValidityTime = Literal["verification", "signing"]


@dataclasses.dataclass(frozen=True)
class PassivePolicy:
    """`allow_id_data` is the lenient mode for SODs whose eContentType is id-data (seen on
    some early documents); strict by default.

    `warn_only`: the deployment's findings that are warnings ("<finding>_tolerated") rather than
    failures, from `DEMOTABLE_FINDINGS` only (dates, country agreement, CRL availability; never a
    signature, hash, anchor or revocation). `validity_time = "signing"` judges the certificates'
    validity at the SOD's signingTime (the shell model's alternative, as some peers allow) instead
    of the verification time; CRLs are always judged at the verification time. The report says
    which was used."""

    allow_id_data: bool = False
    revocation: RevocationPolicy = RevocationPolicy()
    check_dg1_country: bool = True
    warn_only: frozenset[str] = frozenset()
    validity_time: ValidityTime = "verification"

    def __post_init__(self) -> None:
        object.__setattr__(self, "warn_only", frozenset(self.warn_only))
        unknown = self.warn_only - DEMOTABLE_FINDINGS
        if unknown:
            raise ValueError(
                f"warn_only: {', '.join(sorted(unknown))} cannot be a warning "
                f"(allowed: {', '.join(sorted(DEMOTABLE_FINDINGS))})"
            )
        if self.validity_time not in ("verification", "signing"):
            raise ValueError(f"validity_time must be 'verification' or 'signing', not {self.validity_time!r}")


@dataclasses.dataclass(frozen=True)
class Check:
    valid: bool
    reason: str | None
    detail: str | None = None


@dataclasses.dataclass(frozen=True)
class PassiveResult:
    signature: Check
    chain: ChainResult
    data_groups: dict[int, DgStatus]
    country: Check
    signer: Certificate | None
    hash_algorithm: str | None
    warnings: tuple[str, ...] = ()
    validity_basis: Literal["verification_time", "signing_time"] = "verification_time"
    validity_at: dt.datetime | None = None  # when the certificates' validity was judged
    content_type: str | None = None
    # Data groups that are a "mismatch" only because bytes follow their TLV (a reader that pads the
    # file, with 0x00 or 0xFF, to its allocated size): number -> how many. Still a mismatch and
    # never used; the gateway names the padding instead of calling the chip forged.
    trailing_bytes: dict[int, int] = dataclasses.field(default_factory=dict)

    @property
    def valid(self) -> bool:
        mismatched = any(status == "mismatch" for status in self.data_groups.values())
        return self.signature.valid and self.chain.valid and self.country.valid and not mismatched

    def authenticated(self, number: int) -> bool:
        """May data group `number` be used? Only if PA passed and its hash matched."""
        return self.valid and self.data_groups.get(number) == "match"

    @property
    def reasons(self) -> list[str]:
        out = []
        if self.signature.reason:
            out.append(self.signature.reason)
        if self.chain.reason:
            out.append(self.chain.reason)
        if self.country.reason:
            out.append(self.country.reason)
        out.extend(f"dg{n}_hash_mismatch" for n, s in sorted(self.data_groups.items()) if s == "mismatch")
        return out


def alpha2(icao_code: str) -> str | None:
    code = icao_code.strip("<").upper()
    if code in _ICAO_SPECIAL:
        return _ICAO_SPECIAL[code]
    country = pycountry.countries.get(alpha_3=code) if len(code) == 3 else None
    return country.alpha_2 if country is not None else None


def check_data_groups(sod: Sod, dump: CardDump) -> dict[int, DgStatus]:
    statuses: dict[int, DgStatus] = {}
    for number, expected in sod.data_group_hashes.items():
        data = dump.data_group(number)
        if data is None:
            statuses[number] = "absent"
        else:
            ok = hmac.compare_digest(digest(sod.hash_algorithm, data), expected)
            statuses[number] = "match" if ok else "mismatch"
    for number in dump.data_group_numbers:
        statuses.setdefault(number, "unlisted")
    return dict(sorted(statuses.items()))


def trailing_bytes(sod: Sod, dump: CardDump, statuses: dict[int, DgStatus]) -> dict[int, int]:
    """For each mismatched data group whose first TLV alone hashes to EF.SOD's value, how many bytes
    follow that TLV (the reader sent more than the data group)."""
    out: dict[int, int] = {}
    for number, status in statuses.items():
        data = dump.data_group(number)
        if status != "mismatch" or data is None:
            continue
        length = first_tlv_length(data)
        if length is None or length >= len(data):
            continue
        expected = sod.data_group_hashes[number]
        if hmac.compare_digest(digest(sod.hash_algorithm, data[:length]), expected):
            out[number] = len(data) - length
    return out


def verify_sod_signature(
    sod: Sod, policy: PassivePolicy, known_signers: tuple[Certificate, ...] = ()
) -> tuple[Check, Certificate | None]:
    """`known_signers`: Document Signers from the PKD, for SODs that carry no certificate."""
    content = sod.signed
    if content.content_type not in LDS_CONTENT_TYPES and not (
        policy.allow_id_data and content.content_type == ID_DATA
    ):
        return Check(False, "sod_content_type_invalid", f"eContentType {content.content_type}"), None
    signer = find_signer_certificate(content.signer_info, content.certificates)
    if signer is None:
        signer = signer_by_key(content)
    if signer is None and known_signers:
        signer = find_signer_certificate(content.signer_info, known_signers)
    if signer is None:
        return Check(
            False, "signer_certificate_not_found", "no certificate in EF.SOD matches the SignerInfo"
        ), None
    problem = signed_attributes_problem(content)
    if problem is not None:
        return Check(False, problem, "signed attributes of EF.SOD"), signer
    try:
        verify_signer(content, signer)
    except ChipError as exc:
        return Check(False, exc.reason, exc.message), signer
    return Check(True, None), signer


def verify_passive(
    sod: Sod,
    dump: CardDump,
    store: TrustStore,
    *,
    at: dt.datetime | None = None,
    issuing_state: str | None = None,
    policy: PassivePolicy | None = None,
) -> PassiveResult:
    """Run all three checks; `issuing_state` is DG1's (ICAO code), checked against DS and CSCA."""
    policy = policy or PassivePolicy()
    at = at or dt.datetime.now(dt.UTC)
    signature, signer = verify_sod_signature(
        sod, policy, store.document_signers if not sod.signed.certificates else ()
    )
    warnings: list[str] = []
    basis: Literal["verification_time", "signing_time"] = "verification_time"
    validity_at = at
    if policy.validity_time == "signing":
        signed_at = signing_time(sod.signed)
        if signed_at is None:
            warnings.append("signing_time_absent")
        elif signed_at > at:
            warnings.append("signing_time_in_future")
        else:
            basis, validity_at = "signing_time", signed_at
    if signer is None:
        chain = ChainResult(False, "chain_not_checked", "no signer certificate")
    else:
        chain = validate_document_signer(
            signer, store, at, policy.revocation, validity_at=validity_at, warn_only=policy.warn_only
        )
    data_groups = check_data_groups(sod, dump)
    country = Check(True, None)
    warnings += chain.warnings
    if policy.check_dg1_country and issuing_state and signer is not None:
        expected = alpha2(issuing_state)
        actual = {c for c in (signer.country, chain.csca.country if chain.csca else None) if c}
        if expected is None:
            warnings.append("dg1_country_unknown")
        elif any(c.upper() != expected for c in actual):
            if "country_mismatch" in policy.warn_only:
                warnings.append("dg1_country_mismatch_tolerated")
            else:
                country = Check(
                    False, "country_mismatch", f"DG1 issuing state {issuing_state} vs signer {sorted(actual)}"
                )
    return PassiveResult(
        signature,
        chain,
        data_groups,
        country,
        signer,
        sod.hash_algorithm,
        tuple(warnings),
        basis,
        validity_at,
        sod.content_type,
        trailing_bytes(sod, dump, data_groups),
    )

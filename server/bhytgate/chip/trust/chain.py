"""Document Signer path validation: DS -> (link certificates) -> trusted CSCA, at a given date."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Literal

from bhytgate.chip.crypto.x509 import Certificate

if TYPE_CHECKING:
    from bhytgate.chip.trust.store import TrustStore

MAX_LINKS = 3

# Findings a deployment may declare warnings rather than failures (`PassivePolicy.warn_only`):
# dates, country agreement and CRL availability, which real issuers get wrong. Never a signature,
# a hash, a missing anchor or a revocation: those stay failures whatever the configuration says.
DEMOTABLE_FINDINGS = frozenset(
    {
        "ds_expired",
        "ds_not_yet_valid",
        "csca_expired",
        "csca_not_yet_valid",
        "link_expired",
        "link_not_yet_valid",
        "country_mismatch",
        "crl_missing",
        "crl_stale",
    }
)


@dataclasses.dataclass(frozen=True)
class RevocationPolicy:
    """How to treat CRLs. The default reports a stale or missing CRL as a warning, not a failure:
    CSCA CRLs are published every few months and a hospital must not stop work between them."""

    require_crl: bool = False
    stale_crl: Literal["reject", "warn"] = "warn"
    check_country: bool = True


@dataclasses.dataclass(frozen=True)
class ChainResult:
    valid: bool
    reason: str | None
    detail: str | None = None
    path: tuple[str, ...] = ()  # subjects, DS first
    csca: Certificate | None = None
    warnings: tuple[str, ...] = ()


def _fail(
    reason: str, detail: str, path: tuple[str, ...] = (), warnings: tuple[str, ...] = ()
) -> ChainResult:
    return ChainResult(False, reason, detail, path, None, warnings)


def _issuer_path(
    cert: Certificate,
    store: TrustStore,
    at: dt.datetime,
    seen: frozenset[str],
    tolerated: frozenset[str] = frozenset(),
    noted: list[str] | None = None,
) -> tuple[list[Certificate] | None, str, str]:
    """Issuers of `cert` up to an anchor, or (None, reason, detail)."""
    candidates = [(c, a) for c, a in store.issuer_candidates(cert) if c.fingerprint not in seen]
    if not candidates:
        return None, "csca_not_found", f"no trusted CSCA issued {cert.subject}"
    last = ("ds_signature_invalid", f"no candidate CSCA signature over {cert.subject} verifies")
    # Several anchors may hold the issuer's key (a self-signed CSCA and its link certificate, often
    # valid for less long): one valid at `at` is preferred; an invalid one only if none is.
    invalid_anchor: Certificate | None = None
    for candidate, is_anchor in candidates:
        if not store.signed_by(cert, candidate):
            continue
        if is_anchor:
            if candidate.valid_at(at) is None:
                return [candidate], "", ""
            invalid_anchor = invalid_anchor or candidate
            continue
        if len(seen) >= MAX_LINKS:
            last = ("link_too_long", "link certificate chain longer than allowed")
            continue
        validity = candidate.valid_at(at)
        if validity is not None and f"link_{validity}" in tolerated and noted is not None:
            noted.append(f"link_{validity}")
            validity = None
        if validity is not None:
            last = (
                f"link_{validity}",
                f"link certificate {candidate.subject} is {validity.replace('_', ' ')}",
            )
            continue
        rest, reason, detail = _issuer_path(
            candidate, store, at, seen | {candidate.fingerprint}, tolerated, noted
        )
        if rest is not None:
            return [candidate, *rest], "", ""
        last = (reason, detail)
    if invalid_anchor is not None:
        return [invalid_anchor], "", ""  # the caller reports its validity
    return None, last[0], last[1]


def validate_document_signer(
    ds: Certificate,
    store: TrustStore,
    at: dt.datetime,
    policy: RevocationPolicy | None = None,
    *,
    validity_at: dt.datetime | None = None,
    warn_only: frozenset[str] = frozenset(),
) -> ChainResult:
    """Is `ds` issued, directly or through link certificates, by a trusted CSCA, valid at
    `validity_at` (default `at`: the SOD's signing time where the policy says so), and not revoked
    per CRLs judged at `at`? Each failure has its own reason code; a finding the policy lists in
    `warn_only` becomes the warning "<finding>_tolerated" instead."""
    policy = policy or RevocationPolicy()
    when = validity_at or at
    tolerated = warn_only & DEMOTABLE_FINDINGS
    noted: list[str] = []

    def tolerate(finding: str) -> bool:
        if finding in tolerated:
            noted.append(finding)
            return True
        return False

    validity = ds.valid_at(when)
    if validity is not None and not tolerate(f"ds_{validity}"):
        return _fail(
            f"ds_{validity}",
            f"Document Signer certificate is {validity.replace('_', ' ')} at {when:%Y-%m-%d}",
        )
    issuers, reason, detail = _issuer_path(ds, store, when, frozenset({ds.fingerprint}), tolerated, noted)
    if issuers is None:
        return _fail(reason, detail)
    path = (ds.subject, *(c.subject for c in issuers))
    csca = issuers[-1]
    validity = csca.valid_at(when)
    if validity is not None and not tolerate(f"csca_{validity}"):
        return _fail(
            f"csca_{validity}", f"CSCA certificate is {validity.replace('_', ' ')} at {when:%Y-%m-%d}", path
        )
    warnings: list[str] = []
    issuer = issuers[0]
    crls = []
    for crl in store.crls_for(issuer):
        if store.signed_by(crl, issuer):
            crls.append(crl)
        else:
            warnings.append("crl_signature_invalid")
    if not crls:
        if policy.require_crl and not tolerate("crl_missing"):
            return _fail("crl_missing", f"no CRL from {issuer.subject}", path, tuple(warnings))
        warnings.append("crl_missing")
    else:
        if any(ds.serial in crl.revoked_serials for crl in crls):
            return _fail(
                "ds_revoked", "Document Signer certificate is on its CSCA's CRL", path, tuple(warnings)
            )
        freshest = max(crls, key=lambda c: c.this_update)
        if freshest.stale_at(at):
            if policy.stale_crl == "reject" and not tolerate("crl_stale"):
                return _fail(
                    "crl_stale", f"newest CRL expired {freshest.next_update:%Y-%m-%d}", path, tuple(warnings)
                )
            warnings.append("crl_stale")
    if (
        policy.check_country
        and ds.country
        and csca.country
        and ds.country.upper() != csca.country.upper()
        and not tolerate("country_mismatch")
    ):
        return _fail(
            "country_mismatch", f"DS country {ds.country} differs from CSCA country {csca.country}", path
        )
    warnings += [f"{finding}_tolerated" for finding in dict.fromkeys(noted)]
    return ChainResult(True, None, None, path, csca, tuple(warnings))

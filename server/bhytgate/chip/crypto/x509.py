"""Certificates and CRLs read with asn1crypto, verified over their raw TBS bytes.

`cryptography`'s loader refuses encodings that real CSCAs use (explicit EC parameters, ECDSA
AlgorithmIdentifiers with a NULL parameter, some CRL extensions), so structure comes from
asn1crypto and only the signature check goes to the crypto layer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from typing import Any

from asn1crypto import crl as acrl
from asn1crypto import pem
from asn1crypto import x509 as ax509

from bhytgate.chip.crypto.keys import PublicKey, load_public_key
from bhytgate.chip.crypto.signatures import verify_signature
from bhytgate.chip.errors import ChipError, ChipFormatError, typed_errors


def _der(data: bytes) -> bytes:
    if pem.detect(data):
        try:
            _, _, der = pem.unarmor(data)
        except ValueError as exc:
            raise ChipFormatError(f"PEM does not parse: {exc}") from exc
        return bytes(der)
    return data


def _country(name: ax509.Name) -> str | None:
    try:
        value = name.native.get("country_name")
    except (ValueError, TypeError) as exc:
        raise ChipFormatError(f"name does not parse: {exc}") from exc
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value).strip().upper() if value else None


def name_key(name: ax509.Name) -> Any:
    """Normalised name (case, whitespace, attribute order) for issuer matching; cached because
    RFC 4518 string preparation is the most expensive step of a whole verification."""
    return _name_key_der(name.dump())


@functools.lru_cache(maxsize=8192)
def _name_key_der(der: bytes) -> Any:
    return ax509.Name.load(der).hashable


def rdn_set_key(name: ax509.Name) -> tuple[str, ...]:
    """The name as X.500 compares it for signer lookup: the multiset of its RDNs, each with
    normalised values, whatever their order (real issuers write C..CN in a SignerInfo and CN..C in
    the certificate). Only for finding a certificate; chain building keeps the ordered key."""
    return _rdn_set_key_der(name.dump())


@functools.lru_cache(maxsize=8192)
def _rdn_set_key_der(der: bytes) -> tuple[str, ...]:
    return tuple(sorted(rdn.hashable for rdn in ax509.Name.load(der).chosen))


@dataclasses.dataclass(frozen=True, eq=False)
class Certificate:
    """A parsed certificate; only what path validation needs, computed once."""

    der: bytes
    asn1: ax509.Certificate = dataclasses.field(repr=False)
    subject: str
    subject_key: Any = dataclasses.field(repr=False)
    issuer_key: Any = dataclasses.field(repr=False)
    serial: int
    country: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    ski: bytes | None
    aki: bytes | None
    is_ca: bool
    fingerprint: str

    @property
    def self_issued(self) -> bool:
        return bool(self.subject_key == self.issuer_key)

    @functools.cached_property
    @typed_errors("certificate public key")
    def public_key(self) -> PublicKey:
        return load_public_key(self.asn1["tbs_certificate"]["subject_public_key_info"])

    def valid_at(self, when: dt.datetime) -> str | None:
        """None if valid at `when`, else "not_yet_valid" or "expired"."""
        if when < self.not_before:
            return "not_yet_valid"
        if when > self.not_after:
            return "expired"
        return None

    @typed_errors("certificate signature")
    def verify_issued_by(self, issuer: PublicKey) -> None:
        """Raise `SignatureInvalidError` unless `issuer` signed this certificate."""
        verify_signature(
            issuer,
            self.asn1["signature_algorithm"],
            self.asn1["tbs_certificate"].dump(),
            bytes(self.asn1["signature_value"].native),
        )


@typed_errors("certificate")
def load_certificate(data: bytes) -> Certificate:
    """Parse a DER or PEM certificate; a typed error for anything else. Cached by the bytes:
    every EF.SOD of one Document Signer carries the same certificate."""
    return _load_certificate_der(_der(bytes(data)))


@functools.lru_cache(maxsize=4096)
def _load_certificate_der(der: bytes) -> Certificate:
    try:
        cert = ax509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        subject = tbs["subject"]
        issuer = tbs["issuer"]
        validity = tbs["validity"]
        not_before = validity["not_before"].native
        not_after = validity["not_after"].native
        ski = cert.key_identifier
        aki = cert.authority_key_identifier
        bc = cert.basic_constraints_value
        is_ca = bool(bc is not None and bc["ca"].native)
        serial = int(tbs["serial_number"].native)
        human = subject.human_friendly
        country = _country(subject)
        subject_key = name_key(subject)
        issuer_key = name_key(issuer)
    except ChipError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ChipFormatError(f"certificate does not parse: {exc}", reason="certificate_malformed") from exc
    if not isinstance(not_before, dt.datetime) or not isinstance(not_after, dt.datetime):
        raise ChipFormatError("certificate validity does not parse", reason="certificate_malformed")
    return Certificate(
        der=der,
        asn1=cert,
        subject=human,
        subject_key=subject_key,
        issuer_key=issuer_key,
        serial=serial,
        country=country,
        not_before=not_before,
        not_after=not_after,
        ski=bytes(ski) if ski else None,
        aki=bytes(aki) if aki else None,
        is_ca=is_ca,
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Crl:
    der: bytes
    asn1: acrl.CertificateList = dataclasses.field(repr=False)
    issuer: str
    issuer_key: Any = dataclasses.field(repr=False)
    aki: bytes | None
    this_update: dt.datetime
    next_update: dt.datetime | None
    revoked_serials: frozenset[int]

    @typed_errors("CRL signature")
    def verify_issued_by(self, issuer: PublicKey) -> None:
        verify_signature(
            issuer,
            self.asn1["signature_algorithm"],
            self.asn1["tbs_cert_list"].dump(),
            bytes(self.asn1["signature"].native),
        )

    def stale_at(self, when: dt.datetime) -> bool:
        return self.next_update is not None and when > self.next_update


@typed_errors("CRL")
def load_crl(data: bytes) -> Crl:
    der = _der(data)
    try:
        crl = acrl.CertificateList.load(der, strict=True)
        tbs = crl["tbs_cert_list"]
        issuer = tbs["issuer"]
        this_update = tbs["this_update"].native
        next_update = tbs["next_update"].native
        revoked = frozenset(int(entry["user_certificate"].native) for entry in tbs["revoked_certificates"])
        aki = crl.authority_key_identifier
        human = issuer.human_friendly
        issuer_key = name_key(issuer)
        # Touched now, not at the first check of a card: a malformed signature field refuses the
        # CRL when it is loaded instead of breaking every later check of that CSCA's documents.
        _ = (crl["signature_algorithm"].signature_algo, crl["signature"].native, tbs.dump())
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ChipFormatError(f"CRL does not parse: {exc}", reason="crl_malformed") from exc
    if not isinstance(this_update, dt.datetime):
        raise ChipFormatError("CRL thisUpdate does not parse", reason="crl_malformed")
    return Crl(
        der=der,
        asn1=crl,
        issuer=human,
        issuer_key=issuer_key,
        aki=bytes(aki) if aki else None,
        this_update=this_update,
        next_update=next_update if isinstance(next_update, dt.datetime) else None,
        revoked_serials=revoked,
    )

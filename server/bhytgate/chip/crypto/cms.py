"""CMS SignedData as used by EF.SOD and CSCA master lists (ICAO 9303 part 10, RFC 5652)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac

from asn1crypto import cms, core

from bhytgate.chip.crypto.signatures import SignatureInvalidError, digest, hash_algorithm, verify_signature
from bhytgate.chip.crypto.x509 import Certificate, load_certificate, name_key, rdn_set_key
from bhytgate.chip.errors import ChipError, ChipFormatError

# Exceptions asn1crypto raises on hostile input when a lazily-parsed value is first touched.
PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    UnicodeDecodeError,
)


@dataclasses.dataclass(frozen=True)
class SignedContent:
    """The parts of a SignedData that verification needs, extracted once."""

    signed_data: cms.SignedData
    content_type: str  # eContentType, dotted
    econtent: bytes  # the raw eContent octets as signed
    certificates: tuple[Certificate, ...]
    signer_info: cms.SignerInfo
    digest_algorithm: str


def parse_signed_data(content_info_der: bytes, *, what: str) -> SignedContent:
    """Parse a ContentInfo(signedData) with exactly one SignerInfo; typed errors only."""
    try:
        info = cms.ContentInfo.load(content_info_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise ChipFormatError(f"{what}: ContentInfo is not signedData", reason=f"{_slug(what)}_malformed")
        sd = info["content"]
        encap = sd["encap_content_info"]
        content_type = encap["content_type"].dotted
        content = encap["content"]
        if content is None or isinstance(content, core.Void):
            raise ChipFormatError(f"{what}: SignedData has no eContent", reason=f"{_slug(what)}_malformed")
        econtent = _octets(content)
        certificates = []
        for choice in sd["certificates"] or []:
            if choice.name != "certificate":
                continue
            certificates.append(load_certificate(choice.chosen.dump()))
        signer_infos = list(sd["signer_infos"])
        if len(signer_infos) != 1:
            raise ChipFormatError(
                f"{what}: expected one SignerInfo, found {len(signer_infos)}",
                reason=f"{_slug(what)}_malformed",
            )
        signer_info = signer_infos[0]
        digest_name = hash_algorithm(signer_info["digest_algorithm"])
    except ChipError:
        raise
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"{what} does not parse: {exc}", reason=f"{_slug(what)}_malformed") from exc
    return SignedContent(sd, content_type, econtent, tuple(certificates), signer_info, digest_name)


def _slug(what: str) -> str:
    return what.lower().replace(".", "").replace(" ", "_")


def _octets(content: core.Asn1Value) -> bytes:
    """eContent bytes as signed, whether DER primitive or BER constructed chunks."""
    if isinstance(content, core.ParsableOctetString | core.OctetString):
        return bytes(content.native if isinstance(content.native, bytes) else content.contents)
    # Unknown content type: asn1crypto wraps it as Any; take the OCTET STRING's value.
    loaded = core.OctetString.load(content.dump())
    return bytes(loaded.native)


def find_signer_certificate(
    signer_info: cms.SignerInfo, candidates: tuple[Certificate, ...]
) -> Certificate | None:
    """The certificate the SignerInfo names: by issuer+serial with normalised names, then with the
    issuer's RDNs compared as a set (X.500 equality, any order), or by subject key identifier.

    The sid is not signed, so a lenient match costs nothing: the signature and the chain still
    decide. `signer_by_key` is the last resort when no name matches."""
    sid = signer_info["sid"]
    try:
        if sid.name == "issuer_and_serial_number":
            issuer = sid.chosen["issuer"]
            issuer_key = name_key(issuer)
            serial = int(sid.chosen["serial_number"].native)
            same_serial = [cert for cert in candidates if cert.serial == serial]
            for cert in same_serial:
                if cert.issuer_key == issuer_key:
                    return cert
            if same_serial:
                wanted = rdn_set_key(issuer)
                for cert in same_serial:
                    if rdn_set_key(cert.asn1["tbs_certificate"]["issuer"]) == wanted:
                        return cert
            return None
        if sid.name == "subject_key_identifier":
            ski = bytes(sid.chosen.native)
            for cert in candidates:
                if cert.ski is not None and hmac.compare_digest(cert.ski, ski):
                    return cert
            return None
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"SignerInfo sid does not parse: {exc}") from exc
    return None


def signer_by_key(content: SignedContent) -> Certificate | None:
    """The one certificate carried in the SignedData whose key verifies the SignerInfo signature:
    the key identifies the signer when the sid names it in a way no certificate matches."""
    for cert in content.certificates[:4]:  # bounded: a SOD carries one DS, a master list its signer
        try:
            verify_signer(content, cert)
        except ChipError:
            continue
        return cert
    return None


def signed_attributes_problem(content: SignedContent) -> str | None:
    """None if contentType and messageDigest attributes are present and right, else a reason."""
    attrs = content.signer_info["signed_attrs"]
    if attrs is None or isinstance(attrs, core.Void) or len(attrs) == 0:
        return "signed_attrs_missing"
    content_types: list[str] = []
    digests: list[bytes] = []
    try:
        for attr in attrs:
            kind = attr["type"].dotted
            if kind == "1.2.840.113549.1.9.3":
                content_types.extend(v.dotted for v in attr["values"])
            elif kind == "1.2.840.113549.1.9.4":
                digests.extend(bytes(v.native) for v in attr["values"])
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"signed attributes do not parse: {exc}") from exc
    if len(content_types) != 1:
        return "content_type_attr_missing"
    if content_types[0] != content.content_type:
        return "content_type_attr_mismatch"
    if len(digests) != 1:
        return "message_digest_missing"
    if not hmac.compare_digest(digests[0], digest(content.digest_algorithm, content.econtent)):
        return "message_digest_mismatch"
    return None


def signing_time(content: SignedContent) -> dt.datetime | None:
    """The signingTime signed attribute (RFC 5652 11.3), if exactly one is present and readable."""
    attrs = content.signer_info["signed_attrs"]
    if attrs is None or isinstance(attrs, core.Void):
        return None
    found: list[dt.datetime] = []
    try:
        for attr in attrs:
            if attr["type"].dotted == "1.2.840.113549.1.9.5":
                found.extend(v.native for v in attr["values"])
    except PARSE_ERRORS:
        return None
    if len(found) != 1 or not isinstance(found[0], dt.datetime):
        return None
    when = found[0]
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def verify_signer(content: SignedContent, signer: Certificate) -> None:
    """Verify the SignerInfo signature over the DER SET of its signed attributes."""
    si = content.signer_info
    try:
        attrs_der = si["signed_attrs"].dump()
        signature = bytes(si["signature"].native)
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"SignerInfo does not parse: {exc}") from exc
    # The signature covers the attributes with their universal SET tag, not the [0] IMPLICIT tag.
    signed_bytes = b"\x31" + attrs_der[1:]
    verify_signature(
        signer.public_key,
        si["signature_algorithm"],
        signed_bytes,
        signature,
        digest_hint=content.digest_algorithm,
    )


__all__ = [
    "PARSE_ERRORS",
    "SignatureInvalidError",
    "SignedContent",
    "find_signer_certificate",
    "parse_signed_data",
    "signed_attributes_problem",
    "signer_by_key",
    "signing_time",
    "verify_signer",
]

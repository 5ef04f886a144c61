"""EF.SOD (ICAO 9303-10 4.6.2): CMS SignedData over an LDSSecurityObject, signed by a Document Signer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from asn1crypto import cms, core, x509

from . import asn1, crypto
from .crypto import RsaScheme
from .pki import Issuer


def lds_security_object(data_groups: Mapping[int, bytes], hash_name: str = "sha256") -> bytes:
    """LDSSecurityObject v0: the hash of every data group over its raw bytes, by number."""
    crypto.hash_algorithm(hash_name)
    value = asn1.LDSSecurityObject(
        {
            "version": 0,
            "hash_algorithm": {"algorithm": hash_name},
            "data_group_hash_values": [
                {"data_group_number": number, "data_group_hash_value": crypto.digest(hash_name, raw)}
                for number, raw in sorted(data_groups.items())
            ],
        }
    )
    return bytes(value.dump())


def signed_attributes(
    econtent: bytes,
    hash_name: str,
    signing_time: dt.datetime,
    content_type: str = asn1.OID_LDS_SECURITY_OBJECT,
) -> cms.CMSAttributes:
    """contentType, signingTime, messageDigest; as a SET its DER is what the DS signs (RFC 5652 5.4)."""
    return cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=signing_time)]},
            {"type": "message_digest", "values": [crypto.digest(hash_name, econtent)]},
        ]
    )


def build_sod(
    data_groups: Mapping[int, bytes],
    signer: Issuer,
    *,
    hash_name: str = "sha256",
    rsa_scheme: RsaScheme = "pkcs1",
    signing_time: dt.datetime | None = None,
    sid_issuer: x509.Name | None = None,
    content_type: str = asn1.OID_LDS_SECURITY_OBJECT,
    include_certificate: bool = True,
) -> bytes:
    """The complete EF.SOD file (tag 0x77 around the ContentInfo) with the DS certificate inside.

    `sid_issuer` names the issuer in the SignerInfo differently from the certificate (real issuers
    reorder the RDNs); `content_type` is the eContentType (some countries use 1.3.27.1.1.1);
    without `include_certificate` the verifier must know the DS from elsewhere (the PKD)."""
    econtent = lds_security_object(data_groups, hash_name)
    when = (signing_time or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    attrs = signed_attributes(econtent, hash_name, when, content_type)
    signature = crypto.sign(signer.key, attrs.dump(), hash_name, rsa_scheme)
    cert = signer.cert
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": sid_issuer or cert.issuer, "serial_number": cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": hash_name},
            "signed_attrs": attrs,
            "signature_algorithm": crypto.signature_algorithm(signer.key, hash_name, rsa_scheme),
            "signature": signature,
        }
    )
    fields = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": hash_name}],
        "encap_content_info": {
            "content_type": content_type,
            "content": core.ParsableOctetString(econtent),
        },
        "signer_infos": [signer_info],
    }
    if include_certificate:
        fields["certificates"] = [cert]
    signed_data = cms.SignedData(fields)
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return asn1.wrap_application(asn1.TAG_SOD, info.dump())


def content_info(sod: bytes) -> cms.ContentInfo:
    """The CMS ContentInfo inside an EF.SOD file (what `openssl cms -inform DER` reads)."""
    return cms.ContentInfo.load(asn1.unwrap_application(asn1.TAG_SOD, sod))


def security_object(sod: bytes) -> asn1.LDSSecurityObject:
    econtent = content_info(sod)["content"]["encap_content_info"]["content"]
    lso: asn1.LDSSecurityObject = asn1.LDSSecurityObject.load(bytes(econtent.contents))
    return lso


def data_group_hashes(sod: bytes) -> tuple[str, dict[int, bytes]]:
    """(hash algorithm, {number: hash}) as listed in the SOD."""
    lso = security_object(sod)
    hashes = {
        int(entry["data_group_number"].native): bytes(entry["data_group_hash_value"].native)
        for entry in lso["data_group_hash_values"]
    }
    return str(lso["hash_algorithm"]["algorithm"].native), hashes

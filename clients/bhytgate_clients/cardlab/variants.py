"""Real-world variants: genuine cards and trust set-ups that a verifier must ACCEPT although they
differ from the textbook (issue 13). Unlike `attacks`, every one of these is valid.

- `issuer_rdns_reordered`: the SignerInfo names the DS issuer with its RDNs in the reverse order.
- `alternative_lds_oid`: eContentType 1.3.27.1.1.1 instead of 2.23.136.1.1.1.
- `dg13_2024`: a 2024 Căn cước DG13: only the ICAO-encoded fields readable, the rest opaque bytes
  (and, with `readable_id=False`, even the number: the gateway takes it from DG1).
- `dg13_unreadable`: DG13 wholly encrypted (one opaque blob inside tag 6D).
- `without_face`: a card of a child under 6: no DG2 at all, SOD re-signed without it.
- `link_only_trust`: a trust folder holding only the link certificate csca-1 -> csca-2.
- `master_list`: an ICAO CSCA master list signed by a Master List Signer issued by csca-1, whose
  validity starts when the list is made (after the documents it is used for were signed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import cms, core, x509

from . import asn1, crypto, lds
from .card import DG_FILES, SOD_FILE, CardDump, signing_time_within
from .pki import Issuer, Pki, build_certificate, name
from .sod import build_sod

OID_LDS_ALTERNATIVE = "1.3.27.1.1.1"
OID_ML_SIGNER = "2.23.136.1.1.3"
OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
# The fields TT 16/2024/TT-BCA keeps in ICAO encoding: number, name, date of birth, sex,
# nationality, place of origin, expiry. Everything else is encrypted by the issuing agency.
READABLE_2024 = frozenset({1, 2, 3, 4, 5, 8, 12})


def _resign(card: CardDump, pki: Pki, **sod_options: object) -> CardDump:
    signer = pki.signer(card.meta["ds"]["kind"])
    when = dt.datetime.fromisoformat(card.meta["sod"]["signing_time"])
    card.files[SOD_FILE] = build_sod(
        card.data_groups,
        signer,
        hash_name=card.meta["sod"]["hash"],
        rsa_scheme=card.meta["sod"]["rsa_scheme"],
        signing_time=signing_time_within(signer, when),
        **sod_options,  # type: ignore[arg-type]
    )
    return card


def issuer_rdns_reordered(card: CardDump, pki: Pki) -> CardDump:
    """Re-signed with the SignerInfo's issuer RDNs reversed (C, O, CN -> CN, O, C)."""
    forged = card.copy()
    issuer: x509.Name = pki.signer(card.meta["ds"]["kind"]).cert.issuer
    reordered = x509.Name(name="", value=x509.RDNSequence(list(reversed(list(issuer.chosen)))))
    forged.meta["variant"] = "issuer_rdns_reordered"
    return _resign(forged, pki, sid_issuer=reordered)


def alternative_lds_oid(card: CardDump, pki: Pki) -> CardDump:
    forged = card.copy()
    forged.meta["variant"] = "alternative_lds_oid"
    return _resign(forged, pki, content_type=OID_LDS_ALTERNATIVE)


def without_ds_certificate(card: CardDump, pki: Pki) -> CardDump:
    """EF.SOD without the DS certificate (allowed by ICAO 9303): the verifier needs the PKD's DSCs."""
    forged = card.copy()
    forged.meta["variant"] = "without_ds_certificate"
    return _resign(forged, pki, include_certificate=False)


def _opaque_field(number: int) -> core.Any:
    """An encrypted field: an OCTET STRING of ciphertext, or (as some cards write it) ciphertext
    under a UTF8String tag, which is not valid UTF-8."""
    ciphertext = b"\xff\xfe" + os.urandom(30)
    value: core.Asn1Value = (
        core.UTF8String(contents=ciphertext) if number % 2 else core.OctetString(ciphertext)
    )
    members: list[core.Asn1Value] = [core.Integer(number), value]
    return core.Any(asn1.AnySequence([core.Any(m) for m in members]))


def dg13_2024_bytes(data: lds.DG13Data, *, readable_id: bool = True) -> bytes:
    flat = lds.dg13_values(data)
    readable = READABLE_2024 if readable_id else READABLE_2024 - {1}
    fields: list[core.Any] = []
    for number, value in enumerate(flat, start=1):
        if number in readable:
            fields.append(
                core.Any(asn1.AnySequence([core.Any(core.Integer(number)), core.Any(core.UTF8String(value))]))
            )
        else:
            fields.append(_opaque_field(number))
    fields += [_opaque_field(n) for n in (13, 14, 15, 16, 17)]
    content = asn1.DG13Content(
        {"version": 1, "encoding": asn1.OID_DG13_UTF8, "fields": asn1.DG13Fields(fields)}
    )
    return asn1.wrap_application(asn1.TAG_DG13, content.dump())


def dg13_2024(card: CardDump, pki: Pki, *, readable_id: bool = True) -> CardDump:
    forged = card.copy()
    data = lds.parse_dg13(card.files[DG_FILES[13]])
    forged.files[DG_FILES[13]] = dg13_2024_bytes(data, readable_id=readable_id)
    forged.meta["variant"] = "dg13_2024" if readable_id else "dg13_2024_no_id"
    return _resign(forged, pki)


def dg13_unreadable(card: CardDump, pki: Pki) -> CardDump:
    forged = card.copy()
    forged.files[DG_FILES[13]] = asn1.wrap_application(asn1.TAG_DG13, b"\x04\x40" + os.urandom(64))
    forged.meta["variant"] = "dg13_unreadable"
    return _resign(forged, pki)


def without_face(card: CardDump, pki: Pki) -> CardDump:
    """A card without a photo (children under 6): DG2 neither on the chip nor in the SOD."""
    forged = card.copy()
    forged.files.pop(DG_FILES[2], None)
    forged.meta["variant"] = "without_face"
    forged.meta["dg2_size"] = None
    return _resign(forged, pki)


def link_only_trust(pki: Pki, folder: Path) -> Path:
    """A trust folder whose only anchor is the link certificate csca-1 -> csca-2."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "link-csca-1-csca-2.der").write_bytes(bytes(pki.link.dump()))
    return folder


def master_list_signer(pki: Pki, not_before: dt.datetime, not_after: dt.datetime) -> Issuer:
    csca = pki.csca["csca-1"]
    key = crypto.new_ec("secp256r1")
    cert = build_certificate(
        subject=name("Master List Signer Test Vietnam"),
        subject_key=crypto.spki(key),
        issuer=csca.cert.subject,
        issuer_key=csca.key,
        issuer_key_id=csca.cert.key_identifier,
        not_before=not_before,
        not_after=not_after,
        ca=False,
        extended_key_usage=(OID_ML_SIGNER,),
    )
    return Issuer("ml-signer", cert, key)


class _CertificateSet(core.SetOf):
    _child_spec = x509.Certificate


class _CscaMasterList(core.Sequence):
    _fields = [("version", core.Integer), ("cert_list", _CertificateSet)]


def master_list(signer: Issuer, certificates: Sequence[x509.Certificate], signing_time: dt.datetime) -> bytes:
    """A DER ContentInfo(signedData) over a CscaMasterList (ICAO 9303-12 9), signed by `signer`."""
    econtent = _CscaMasterList({"version": 0, "cert_list": list(certificates)}).dump()
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [OID_CSCA_MASTER_LIST]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=signing_time)]},
            {"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]},
        ]
    )
    cert = signer.cert
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": cert.issuer, "serial_number": cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": crypto.signature_algorithm(signer.key, "sha256"),
            "signature": crypto.sign(signer.key, attrs.dump(), "sha256"),
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": OID_CSCA_MASTER_LIST,
                "content": core.ParsableOctetString(econtent),
            },
            "certificates": [cert],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


__all__ = [
    "OID_LDS_ALTERNATIVE",
    "READABLE_2024",
    "alternative_lds_oid",
    "dg13_2024",
    "dg13_2024_bytes",
    "dg13_unreadable",
    "issuer_rdns_reordered",
    "link_only_trust",
    "master_list",
    "master_list_signer",
    "without_ds_certificate",
    "without_face",
]

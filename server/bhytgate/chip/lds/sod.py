"""EF.SOD: the LDS Security Object signed by the Document Signer (ICAO 9303 part 10, 4.6.2)."""

from __future__ import annotations

import dataclasses

from asn1crypto import algos, core

from bhytgate.chip.crypto.cms import PARSE_ERRORS, SignedContent, parse_signed_data
from bhytgate.chip.crypto.signatures import hash_algorithm
from bhytgate.chip.errors import ChipError, ChipFormatError
from bhytgate.chip.lds.tlv import unwrap

LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
# The alternative OID some countries' SODs carry for the same LDSSecurityObject (peers accept it).
LDS_SECURITY_OBJECT_ALT = "1.3.27.1.1.1"
LDS_CONTENT_TYPES = frozenset({LDS_SECURITY_OBJECT, LDS_SECURITY_OBJECT_ALT})
ID_DATA = "1.2.840.113549.1.7.1"
MAX_DATA_GROUP = 16


class _DataGroupHash(core.Sequence):
    _fields = [("number", core.Integer), ("hash", core.OctetString)]


class _DataGroupHashes(core.SequenceOf):
    _child_spec = _DataGroupHash


class _LdsVersionInfo(core.Sequence):
    _fields = [("lds_version", core.PrintableString), ("unicode_version", core.PrintableString)]


class _LdsSecurityObject(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hashes", _DataGroupHashes),
        ("lds_version_info", _LdsVersionInfo, {"optional": True}),
    ]


@dataclasses.dataclass(frozen=True)
class Sod:
    raw: bytes
    signed: SignedContent
    version: int  # 0 (LDS 1.7) or 1 (LDS 1.8)
    lds_version: str | None
    hash_algorithm: str
    data_group_hashes: dict[int, bytes]  # by data-group number, whatever the order in the file

    @property
    def content_type(self) -> str:
        return self.signed.content_type


def parse_sod(data: bytes) -> Sod:
    """Parse EF.SOD; any malformation is a `ChipFormatError`, never another exception."""
    outer = unwrap(data, "EF.SOD")
    signed = parse_signed_data(outer.contents, what="EF.SOD")
    try:
        lso = _LdsSecurityObject.load(signed.econtent, strict=True)
        version = int(lso["version"].native)
        hash_name = hash_algorithm(lso["hash_algorithm"])
        hashes: dict[int, bytes] = {}
        for entry in lso["data_group_hashes"]:
            number = int(entry["number"].native)
            value = bytes(entry["hash"].native)
            if not 1 <= number <= MAX_DATA_GROUP:
                raise ChipFormatError(f"EF.SOD lists data group {number}", reason="sod_malformed")
            if number in hashes:
                raise ChipFormatError(f"EF.SOD lists data group {number} twice", reason="sod_malformed")
            hashes[number] = value
        info = lso["lds_version_info"]
        lds_version = None if isinstance(info, core.Void) else str(info["lds_version"].native)
    except ChipError:
        raise
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"LDSSecurityObject does not parse: {exc}", reason="sod_malformed") from exc
    if version not in (0, 1):
        raise ChipFormatError(f"LDSSecurityObject version {version} is unknown", reason="sod_malformed")
    if not hashes:
        raise ChipFormatError("EF.SOD lists no data groups", reason="sod_malformed")
    return Sod(bytes(data), signed, version, lds_version, hash_name, hashes)

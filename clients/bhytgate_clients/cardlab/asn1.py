"""ASN.1 structures of the LDS (ICAO 9303-10) that asn1crypto does not ship.

Everything is declared with asn1crypto so that DER comes from one well-tested encoder; the lab never
writes tags or lengths by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import algos, core, keys

_Spec = list[tuple[Any, ...]]  # asn1crypto field specs


OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
OID_AA = "2.23.136.1.1.5"  # id-icao-mrtd-security-aaProtocolObject
OID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"  # id-PK-ECDH (BSI TR-03110)
OID_CA_ECDH_AES_CBC_CMAC_128 = "0.4.0.127.0.7.2.2.3.2.2"
OID_DG13_UTF8 = "1.0.10646.1.0.8"  # what CCCD DG13 carries after its version number

# Application tags of the elementary files (ICAO 9303-10, table 34).
TAG_DG1 = 1  # 0x61
TAG_DG2 = 21  # 0x75
TAG_DG13 = 13  # 0x6D
TAG_DG14 = 14  # 0x6E
TAG_DG15 = 15  # 0x6F
TAG_SOD = 23  # 0x77


class _Wrapper(core.Sequence):  # type: ignore[misc]
    """One element re-tagged [APPLICATION n] constructed: how each EF wraps its payload."""

    _fields: ClassVar[_Spec] = [("inner", core.Any)]


def wrap_application(tag: int, inner_der: bytes) -> bytes:
    """Wrap DER in the EF's outer application tag, keeping the inner bytes untouched."""
    value = _Wrapper({"inner": core.Any.load(inner_der)}, implicit=("application", tag))
    return bytes(value.dump())


def unwrap_application(tag: int, data: bytes) -> bytes:
    """Inverse of wrap_application; raises ValueError if the outer tag is not the expected one."""
    value = _Wrapper.load(data, implicit=("application", tag), strict=True)
    return bytes(value["inner"].dump())


# --- DG1 -------------------------------------------------------------------------------------------


class DG1(core.Sequence):  # type: ignore[misc]
    class_ = 1
    tag = TAG_DG1
    _fields: ClassVar[_Spec] = [("mrz", core.PrintableString, {"implicit": ("application", 31)})]  # 5F1F


# --- DG2 (ICAO 9303-10 4.7.2, CBEFF with ISO/IEC 19794-5 data block) ------------------------------


class BiometricHeaderTemplate(core.Sequence):  # type: ignore[misc]  # A1
    _fields: ClassVar[_Spec] = [
        ("version", core.OctetString, {"implicit": 0, "optional": True}),  # 80
        ("biometric_type", core.OctetString, {"implicit": 1, "optional": True}),  # 81
        ("biometric_subtype", core.OctetString, {"implicit": 2, "optional": True}),  # 82
        ("creation_date", core.OctetString, {"implicit": 3, "optional": True}),  # 83
        ("format_owner", core.OctetString, {"implicit": 7}),  # 87
        ("format_type", core.OctetString, {"implicit": 8}),  # 88
    ]


class BiometricInformationTemplate(core.Sequence):  # type: ignore[misc]  # 7F60
    _fields: ClassVar[_Spec] = [
        ("header", BiometricHeaderTemplate, {"implicit": ("context", 1)}),
        ("data", core.OctetString, {"implicit": ("application", 46)}),  # 5F2E
    ]


class BiometricInformationGroupTemplate(core.Sequence):  # type: ignore[misc]  # 7F61
    _fields: ClassVar[_Spec] = [
        ("count", core.Integer),
        ("instance", BiometricInformationTemplate, {"implicit": ("application", 96)}),
    ]


class DG2(core.Sequence):  # type: ignore[misc]
    class_ = 1
    tag = TAG_DG2
    _fields: ClassVar[_Spec] = [
        ("group", BiometricInformationGroupTemplate, {"implicit": ("application", 97)})
    ]


# --- DG13 (Vietnamese CCCD personal data) ---------------------------------------------------------


class DG13Names(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.UTF8String


class AnySequence(core.SequenceOf):  # type: ignore[misc]
    """SEQUENCE { ... } of mixed members: DG13 fields are `INTEGER n, value` with per-field values."""

    _child_spec = core.Any


class DG13Fields(core.SetOf):  # type: ignore[misc]
    _child_spec = core.Any


class DG13Content(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("version", core.Integer),
        ("encoding", core.ObjectIdentifier),
        ("fields", DG13Fields),
    ]


# --- DG14 (ICAO 9303-11 9.2, BSI TR-03110) --------------------------------------------------------


class ActiveAuthenticationInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("protocol", core.ObjectIdentifier),
        ("version", core.Integer),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class ChipAuthenticationInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("protocol", core.ObjectIdentifier),
        ("version", core.Integer),
        ("key_id", core.Integer, {"optional": True}),
    ]


class ChipAuthenticationPublicKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("protocol", core.ObjectIdentifier),
        ("chip_authentication_public_key", keys.PublicKeyInfo),
        ("key_id", core.Integer, {"optional": True}),
    ]


class SecurityInfos(core.SetOf):  # type: ignore[misc]
    _child_spec = core.Any


# --- EF.SOD payload (ICAO 9303-10 4.6.2) ----------------------------------------------------------


class DataGroupHash(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class DataGroupHashValues(core.SequenceOf):  # type: ignore[misc]
    _child_spec = DataGroupHash


class LDSVersionInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LDSSecurityObject(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LDSVersionInfo, {"optional": True}),
    ]

"""DG14 (SecurityInfos) and DG15 (the Active Authentication public key)."""

from __future__ import annotations

import dataclasses

from asn1crypto import core, keys

from bhytgate.chip.crypto.cms import PARSE_ERRORS
from bhytgate.chip.crypto.keys import PublicKey, ec_public_key, load_public_key
from bhytgate.chip.errors import ChipError, ChipFormatError, typed_errors
from bhytgate.chip.lds.tlv import unwrap

ID_AA = "2.23.136.1.1.5"  # ActiveAuthenticationInfo
ID_PK_DH = "0.4.0.127.0.7.2.2.1.1"  # ChipAuthenticationPublicKeyInfo, DH
ID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"  # ChipAuthenticationPublicKeyInfo, ECDH
ID_CA_PREFIX = "0.4.0.127.0.7.2.2.3."  # ChipAuthenticationInfo
ID_PACE_PREFIX = "0.4.0.127.0.7.2.2.4."
ID_TA = "0.4.0.127.0.7.2.2.2"

# ecdsa-with-SHA* (X9.62) and the BSI plain variants, as named in ActiveAuthenticationInfo
AA_HASHES: dict[str, str] = {
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}


@dataclasses.dataclass(frozen=True)
class SecurityInfo:
    protocol: str
    required: bytes
    optional: bytes | None


@dataclasses.dataclass(frozen=True)
class ChipAuthenticationKey:
    protocol: str
    key_id: int | None
    key: PublicKey | None  # None when the key's algorithm is not one we can load (e.g. DH)
    problem: str | None


@dataclasses.dataclass(frozen=True)
class Dg14:
    infos: tuple[SecurityInfo, ...]
    aa_signature_algorithm: str | None  # dotted OID from ActiveAuthenticationInfo
    chip_authentication_keys: tuple[ChipAuthenticationKey, ...]
    protocols: tuple[str, ...]

    @property
    def aa_hash(self) -> str | None:
        return AA_HASHES.get(self.aa_signature_algorithm or "")


class _SecurityInfo(core.Sequence):
    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("required_data", core.Any),
        ("optional_data", core.Any, {"optional": True}),
    ]


class _SecurityInfos(core.SetOf):
    _child_spec = _SecurityInfo


class _AaInfo(core.Sequence):
    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("version", core.Integer),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class _CaPublicKeyInfo(core.Sequence):
    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("public_key", keys.PublicKeyInfo),
        ("key_id", core.Integer, {"optional": True}),
    ]


def parse_dg14(data: bytes) -> Dg14:
    outer = unwrap(data, "DG14")
    try:
        parsed = _SecurityInfos.load(outer.contents, strict=True)
        infos = []
        for item in parsed:
            optional = item["optional_data"]
            infos.append(
                SecurityInfo(
                    protocol=item["protocol"].dotted,
                    required=item["required_data"].dump(),
                    optional=None if isinstance(optional, core.Void) else optional.dump(),
                )
            )
    except PARSE_ERRORS as exc:
        raise ChipFormatError(f"DG14 SecurityInfos do not parse: {exc}", reason="dg14_malformed") from exc
    aa_algorithm: str | None = None
    ca_keys: list[ChipAuthenticationKey] = []
    for info in infos:
        if info.protocol == ID_AA:
            try:
                seq = _AaInfo.load(_reassemble(info), strict=True)
                aa_algorithm = seq["signature_algorithm"].dotted
            except PARSE_ERRORS as exc:
                raise ChipFormatError(
                    f"ActiveAuthenticationInfo does not parse: {exc}", reason="dg14_malformed"
                ) from exc
        elif info.protocol in (ID_PK_DH, ID_PK_ECDH):
            ca_keys.append(_ca_key(info))
    return Dg14(tuple(infos), aa_algorithm, tuple(ca_keys), tuple(i.protocol for i in infos))


def _reassemble(info: SecurityInfo) -> bytes:
    """The SecurityInfo re-read as its specific type (its fields as one SEQUENCE)."""
    oid = core.ObjectIdentifier(info.protocol).dump()
    body = oid + info.required + (info.optional or b"")
    return bytes(core.Sequence(contents=body).dump())


def _ca_key(info: SecurityInfo) -> ChipAuthenticationKey:
    try:
        seq = _CaPublicKeyInfo.load(_reassemble(info), strict=True)
        key_id = seq["key_id"].native
        spki = seq["public_key"]
        algorithm = spki["algorithm"]["algorithm"].native
    except PARSE_ERRORS as exc:
        raise ChipFormatError(
            f"ChipAuthenticationPublicKeyInfo does not parse: {exc}", reason="dg14_malformed"
        ) from exc
    if algorithm != "ec":
        return ChipAuthenticationKey(info.protocol, key_id, None, f"{algorithm} keys are not loaded")
    try:
        params = spki["algorithm"]["parameters"]
        key = ec_public_key(params, bytes(spki["public_key"].native))
    except ChipError as exc:
        return ChipAuthenticationKey(info.protocol, key_id, None, exc.reason)
    except PARSE_ERRORS as exc:
        return ChipAuthenticationKey(info.protocol, key_id, None, f"malformed: {exc}")
    return ChipAuthenticationKey(info.protocol, key_id, key, None)


@typed_errors("DG15")
def parse_dg15(data: bytes) -> PublicKey:
    outer = unwrap(data, "DG15")
    try:
        spki = keys.PublicKeyInfo.load(outer.contents, strict=True)
        _ = spki["algorithm"]["algorithm"].native
    except PARSE_ERRORS as exc:
        raise ChipFormatError(
            f"DG15 SubjectPublicKeyInfo does not parse: {exc}", reason="dg15_malformed"
        ) from exc
    return load_public_key(spki)

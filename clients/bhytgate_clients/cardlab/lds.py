"""Data groups as the chip stores them: each file is its full TLV, outer ICAO tag included."""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, core, keys
from PIL import Image, ImageOps

from . import asn1, crypto, mrz
from .crypto import PrivateKey, PublicKey

# A CCCD carries a small colour JPEG; these bounds keep the lab's DG2 in that range.
DG2_MAX_SIZE = (480, 640)
DG2_JPEG_QUALITY = 80
MAX_SOURCE_PIXELS = 40_000_000


@dataclass(frozen=True, slots=True)
class Photo:
    jpeg: bytes
    width: int
    height: int


def chip_photo(
    source: Path, max_size: tuple[int, int] = DG2_MAX_SIZE, quality: int = DG2_JPEG_QUALITY
) -> Photo:
    """Re-encode any photo as the upright, EXIF-free, chip-sized JPEG a CCCD holds."""
    with Image.open(source) as image:
        if image.width * image.height > MAX_SOURCE_PIXELS:
            raise ValueError(f"{source}: image too large ({image.width}x{image.height})")
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail(max_size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    upright.save(buffer, format="JPEG", quality=quality)
    return Photo(buffer.getvalue(), upright.width, upright.height)


def iso19794_5_record(photo: Photo, sex: str) -> bytes:
    """ISO/IEC 19794-5:2005 facial record: 'FAC\\0' '010\\0' header, one face, JPEG image data."""
    gender = {"M": 1, "F": 2}.get(sex, 0)
    image_info = struct.pack(
        ">BBHHBBHH",
        1,  # face image type: full frontal
        0,  # image data type: JPEG
        photo.width,
        photo.height,
        1,  # colour space: 24-bit RGB
        2,  # source type: static photo, digital still camera
        0,  # device type: unspecified
        0,  # quality: unspecified
    )
    face_length = 20 + len(image_info) + len(photo.jpeg)
    face_header = struct.pack(
        ">IHBBB3sH3s3s",
        face_length,
        0,  # number of feature points
        gender,
        0,  # eye colour unspecified
        0,  # hair colour unspecified
        b"\x00\x00\x00",  # feature mask
        0,  # expression unspecified
        b"\x00\x00\x00",  # pose angle yaw/pitch/roll: unspecified
        b"\x00\x00\x00",  # pose angle uncertainty
    )
    general_header = b"FAC\x00" + b"010\x00" + struct.pack(">IH", 14 + face_length, 1)
    return general_header + face_header + image_info + photo.jpeg


def dg1(td1: mrz.TD1) -> bytes:
    return bytes(asn1.DG1({"mrz": str(td1)}).dump())


def dg2(photo: Photo, sex: str) -> bytes:
    value = asn1.DG2(
        {
            "group": {
                "count": 1,
                "instance": {
                    "header": {
                        "biometric_type": b"\x02",  # facial features
                        "biometric_subtype": b"\x00",
                        "format_owner": b"\x01\x01",  # ISO/IEC JTC 1/SC 37
                        "format_type": b"\x00\x08",  # ISO/IEC 19794-5 face image
                    },
                    "data": iso19794_5_record(photo, sex),
                },
            }
        }
    )
    return bytes(value.dump())


def dg2_jpeg(dg2_bytes: bytes) -> bytes:
    """The JPEG inside a DG2 written by dg2() (for tests and for swapping photos)."""
    record = bytes(asn1.DG2.load(dg2_bytes)["group"]["instance"]["data"].native)
    return record[14 + 20 + 12 :]


def _utf8(text: str) -> core.Any:
    return core.Any(core.UTF8String(text))


def _field(number: int, *values: core.Asn1Value) -> core.Any:
    members: list[core.Asn1Value] = [core.Integer(number), *values]
    return core.Any(asn1.AnySequence([core.Any(m) for m in members]))


def _names(*names: str) -> core.Asn1Value:
    return asn1.AnySequence([_utf8(n) for n in names])


def dd_mm_yyyy(date: dt.date) -> str:
    return date.strftime("%d/%m/%Y")


@dataclass(frozen=True, slots=True)
class DG13Data:
    """The 16 numbered fields of a CCCD's DG13, already formatted as the chip stores them."""

    id_number: str
    full_name: str
    date_of_birth: str  # dd/mm/yyyy
    sex: str  # "Nam" | "Nữ"
    nationality: str
    ethnicity: str
    religion: str
    place_of_origin: str
    place_of_residence: str
    identifying_marks: str
    issue_date: str  # dd/mm/yyyy
    expiry_date: str  # dd/mm/yyyy or "Không thời hạn"
    father: str
    mother: str
    spouse: str | None
    old_id_number: str | None
    opaque: str  # field 16: observed on real cards as 16 hex characters, meaning unknown


def dg13_values(data: DG13Data) -> list[str]:
    """The DG13 fields in their tag order (1 = CCCD number ... 12 = expiry date)."""
    return [
        data.id_number,
        data.full_name,
        data.date_of_birth,
        data.sex,
        data.nationality,
        data.ethnicity,
        data.religion,
        data.place_of_origin,
        data.place_of_residence,
        data.identifying_marks,
        data.issue_date,
        data.expiry_date,
    ]


def dg13(data: DG13Data) -> bytes:
    flat = dg13_values(data)
    fields = [_field(number, core.UTF8String(value)) for number, value in enumerate(flat, start=1)]
    fields.append(_field(13, _names(data.father), _names(data.mother)))
    fields.append(_field(14, _names(data.spouse) if data.spouse else asn1.AnySequence([])))
    if data.old_id_number:
        fields.append(_field(15, core.UTF8String(data.old_id_number)))
    fields.append(_field(16, core.UTF8String(data.opaque)))
    content = asn1.DG13Content(
        {"version": 1, "encoding": asn1.OID_DG13_UTF8, "fields": asn1.DG13Fields(fields)}
    )
    return asn1.wrap_application(asn1.TAG_DG13, content.dump())


def dg13_fields(dg13_bytes: bytes) -> dict[int, list[object]]:
    """Field number -> native values, for tests and attack variants."""
    content = asn1.DG13Content.load(asn1.unwrap_application(asn1.TAG_DG13, dg13_bytes))
    result: dict[int, list[object]] = {}
    for item in content["fields"]:
        parsed = _native(item.dump())
        assert isinstance(parsed, list)
        result[int(str(parsed[0]))] = parsed[1:]
    return result


def _native(der: bytes) -> object:
    """Native value with nested SEQUENCEs as lists (asn1crypto gives untyped ones as dicts)."""
    value = core.load(der)
    if isinstance(value, core.Sequence):
        return [_native(member.dump()) for member in asn1.AnySequence.load(der)]
    return value.native


def dg14(aa_key: PublicKey | None, aa_hash: str, ca_key: PublicKey | None) -> bytes:
    """SecurityInfos: AA info for an EC AA key (ICAO 9303-11 6.1), optional Chip Authentication info."""
    infos: list[core.Asn1Value] = []
    if aa_key is not None and crypto.key_kind(aa_key) == "ec":
        algorithm = algos.SignedDigestAlgorithmId.unmap(f"{aa_hash}_ecdsa")
        infos.append(
            asn1.ActiveAuthenticationInfo(
                {"protocol": asn1.OID_AA, "version": 1, "signature_algorithm": algorithm}
            )
        )
    if ca_key is not None:
        infos.append(
            asn1.ChipAuthenticationPublicKeyInfo(
                {"protocol": asn1.OID_PK_ECDH, "chip_authentication_public_key": crypto.spki(ca_key)}
            )
        )
        infos.append(
            asn1.ChipAuthenticationInfo({"protocol": asn1.OID_CA_ECDH_AES_CBC_CMAC_128, "version": 1})
        )
    return asn1.wrap_application(asn1.TAG_DG14, asn1.SecurityInfos([core.Any(i) for i in infos]).dump())


def dg15(aa_key: PrivateKey | PublicKey) -> bytes:
    return asn1.wrap_application(asn1.TAG_DG15, crypto.spki(aa_key).dump())


def dg15_public_key(dg15_bytes: bytes) -> keys.PublicKeyInfo:
    return keys.PublicKeyInfo.load(asn1.unwrap_application(asn1.TAG_DG15, dg15_bytes))


def data_group_numbers(names: Iterable[str]) -> list[int]:
    return sorted(int(n[2:]) for n in names if n.startswith("DG"))


def _text(values: list[object]) -> str:
    return str(values[0]) if values else ""


def parse_dg13(dg13_bytes: bytes) -> DG13Data:
    """Read back a DG13 written by dg13() (the lab's own format; not a general CCCD parser)."""
    fields = dg13_fields(dg13_bytes)
    parents = fields.get(13, [[""], [""]])
    spouse = fields.get(14, [[]])

    def first(value: object) -> str:
        return str(value[0]) if isinstance(value, list) and value else ""

    return DG13Data(
        id_number=_text(fields[1]),
        full_name=_text(fields[2]),
        date_of_birth=_text(fields[3]),
        sex=_text(fields[4]),
        nationality=_text(fields[5]),
        ethnicity=_text(fields[6]),
        religion=_text(fields[7]),
        place_of_origin=_text(fields[8]),
        place_of_residence=_text(fields[9]),
        identifying_marks=_text(fields[10]),
        issue_date=_text(fields[11]),
        expiry_date=_text(fields[12]),
        father=first(parents[0]),
        mother=first(parents[1]) if len(parents) > 1 else "",
        spouse=first(spouse[0]) or None if spouse else None,
        old_id_number=_text(fields[15]) if 15 in fields else None,
        opaque=_text(fields.get(16, [])),
    )

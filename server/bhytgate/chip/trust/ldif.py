"""ICAO PKD LDIF files: what the PKD publishes its CSCA master lists, DSCs and CRLs in.

`icaopkd-002-ml-*.ldif` entries carry `pkdMasterListContent::` (a CMS master list),
`icaopkd-001-dsccrl-*.ldif` entries `userCertificate;binary::` (a Document Signer certificate) or
`certificateRevocationList;binary::` (a CRL), each base64 per RFC 2849 with folded lines. Only
those three attributes are read; everything else (DNs, pkdVersion, conformance texts) is skipped.
Reading proves nothing: master lists are verified when added to a `TrustStore`, CRLs against
their CSCA, and a DSC is only ever a candidate signer that must still chain to an anchor.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

from bhytgate.chip.errors import TrustStoreError

MASTER_LIST_ATTR = "pkdmasterlistcontent"
DSC_ATTRS = frozenset({"usercertificate;binary", "usercertificate"})
CRL_ATTRS = frozenset({"certificaterevocationlist;binary", "certificaterevocationlist"})
MAX_VALUE_BYTES = 8 * 1024 * 1024  # one object (a master list is a few hundred KiB)
MAX_OBJECTS = 200_000


@dataclasses.dataclass(frozen=True)
class PkdObjects:
    master_lists: tuple[bytes, ...]
    document_signers: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    entries: int  # LDIF entries read, including those holding none of the three


def _fail(line: int, message: str) -> TrustStoreError:
    return TrustStoreError(f"LDIF line {line}: {message}", reason="ldif_malformed")


def _logical_lines(data: bytes) -> list[tuple[int, str]]:
    """Unfolded lines (RFC 2849: a line starting with one space continues the previous one),
    comments dropped, blank lines kept as entry separators."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(0, f"not UTF-8 ({exc.reason})") from None
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith(" ") and parts:
            parts.append(raw[1:])
            continue
        if parts:
            out.append((start, "".join(parts)))
        parts, start = [raw], number
    if parts:
        out.append((start, "".join(parts)))
    return [(n, line) for n, line in out if not line.startswith("#")]


def read_pkd_ldif(data: bytes) -> PkdObjects:
    """The master lists, DSCs and CRLs in a PKD LDIF file; a typed error for malformed input."""
    master_lists: list[bytes] = []
    dscs: list[bytes] = []
    crls: list[bytes] = []
    entries = 0
    for number, line in _logical_lines(data):
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            raise _fail(number, "expected 'attribute: value'")
        attr = name.strip().lower()
        if attr == "dn":
            entries += 1
        if attr not in DSC_ATTRS and attr not in CRL_ATTRS and attr != MASTER_LIST_ATTR:
            continue
        if not rest.startswith(":"):
            raise _fail(number, f"{name.strip()} must be base64 ('::')")
        encoded = rest[1:].strip()
        if len(encoded) > MAX_VALUE_BYTES * 4 // 3 + 4:
            raise _fail(number, f"{name.strip()} larger than {MAX_VALUE_BYTES} bytes")
        try:
            value = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(number, f"{name.strip()} is not valid base64") from None
        if not value:
            raise _fail(number, f"{name.strip()} is empty")
        if attr == MASTER_LIST_ATTR:
            master_lists.append(value)
        elif attr in DSC_ATTRS:
            dscs.append(value)
        else:
            crls.append(value)
        if len(master_lists) + len(dscs) + len(crls) > MAX_OBJECTS:
            raise _fail(number, f"more than {MAX_OBJECTS} objects")
    return PkdObjects(tuple(master_lists), tuple(dscs), tuple(crls), entries)


def write_pkd_ldif(
    master_lists: tuple[bytes, ...] = (),
    document_signers: tuple[bytes, ...] = (),
    crls: tuple[bytes, ...] = (),
    *,
    country: str = "VN",
) -> bytes:
    """An LDIF file in the PKD's layout (for the card lab and tests), lines folded at 76."""
    lines = ["version: 1", ""]
    groups = (
        ("ml", "pkdMasterListContent", "pkdMasterList", master_lists),
        ("dsc", "userCertificate;binary", "inetOrgPerson", document_signers),
        ("crl", "certificateRevocationList;binary", "cRLDistributionPoint", crls),
    )
    for branch, attr, object_class, values in groups:
        for index, value in enumerate(values):
            lines.append(
                f"dn: cn={branch}-{index},o={branch},c={country},dc=data,dc=download,dc=pkd,dc=icao,dc=int"
            )
            lines.append(f"objectClass: {object_class}")
            lines.append("objectClass: pkdDownload")
            encoded = f"{attr}:: {base64.b64encode(value).decode('ascii')}"
            lines.append(encoded[:76])
            lines.extend(" " + encoded[i : i + 75] for i in range(76, len(encoded), 75))
            lines.append("pkdVersion: 1")
            lines.append("")
    return ("\n".join(lines) + "\n").encode("ascii")

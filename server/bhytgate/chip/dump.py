"""A card dump: the raw elementary files as read from the chip, by canonical name."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

from bhytgate.chip.errors import ChipFormatError
from bhytgate.chip.lds.tlv import MAX_EF_BYTES

CANONICAL = ("EF.COM", "EF.SOD", "DG1", "DG2", "DG13", "DG14", "DG15")
_NAME = re.compile(r"(?:ef[._])?(?:(sod)|(com)|(?:dg|datagroup)([0-9]{1,2}))", re.ASCII)


def canonical_name(filename: str) -> str | None:
    """ "EF.SOD", "DG15"... for the names card readers write; None for anything else.

    Case-insensitive; accepts an EF./EF_ prefix and a .bin/.der suffix (DESIGN.md, Chip data).
    """
    stem = filename.strip().lower()
    for suffix in (".bin", ".der"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    match = _NAME.fullmatch(stem)
    if match is None:
        return None
    if match.group(1):
        return "EF.SOD"
    if match.group(2):
        return "EF.COM"
    number = int(match.group(3))
    return f"DG{number}" if 1 <= number <= 16 else None


@dataclasses.dataclass(frozen=True)
class CardDump:
    files: Mapping[str, bytes]

    @property
    def sod(self) -> bytes:
        data = self.files.get("EF.SOD")
        if data is None:
            raise ChipFormatError("the card dump has no EF.SOD", reason="sod_missing")
        return data

    def data_group(self, number: int) -> bytes | None:
        return self.files.get(f"DG{number}")

    @property
    def data_group_numbers(self) -> list[int]:
        return sorted(int(name[2:]) for name in self.files if name.startswith("DG"))


def dump_from_files(files: Mapping[str, bytes]) -> CardDump:
    """A dump from name -> bytes (the gRPC request carries the same files)."""
    out: dict[str, bytes] = {}
    for name, data in files.items():
        canonical = canonical_name(name)
        if canonical is None:
            raise ChipFormatError(f"unknown elementary file name {name!r}", reason="unknown_file")
        if canonical in out:
            raise ChipFormatError(f"{canonical} given twice", reason="duplicate_file")
        if not isinstance(data, bytes | bytearray):
            raise ChipFormatError(f"{canonical}: expected bytes, got {type(data).__name__}")
        if len(data) > MAX_EF_BYTES:
            raise ChipFormatError(f"{canonical} is over {MAX_EF_BYTES} bytes", reason="file_too_large")
        out[canonical] = bytes(data)
    if "EF.SOD" not in out:
        raise ChipFormatError("the card dump has no EF.SOD", reason="sod_missing")
    return CardDump(out)


def load_dump(directory: Path) -> CardDump:
    """Read a dump directory; files with other names (lab metadata, keys) are ignored."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ChipFormatError(f"{directory} is not a directory", reason="dump_not_found")
    files: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        canonical = canonical_name(path.name)
        if canonical is None or not path.is_file():
            continue
        if canonical in files:
            raise ChipFormatError(
                f"{directory}: {canonical} appears under two names", reason="duplicate_file"
            )
        if path.stat().st_size > MAX_EF_BYTES:
            raise ChipFormatError(f"{path.name} is over {MAX_EF_BYTES} bytes", reason="file_too_large")
        files[canonical] = path.read_bytes()
    return dump_from_files(files)

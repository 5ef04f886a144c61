"""TD1 machine-readable zone (ICAO 9303-5) as a Vietnamese CCCD prints and stores it in DG1."""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata

_WEIGHTS = (7, 3, 1)


def _char_value(char: str) -> int:
    if char == "<":
        return 0
    if "0" <= char <= "9":  # ASCII only: isdigit() accepts Arabic-Indic and fullwidth digits
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    raise ValueError(f"character {char!r} is not allowed in an MRZ")


def check_digit(field: str) -> str:
    """ICAO 9303-3 4.9: 7-3-1 weighted sum modulo 10."""
    total = sum(_char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field))
    return str(total % 10)


def transliterate(text: str) -> str:
    """Vietnamese text to MRZ letters: strip diacritics (đ → D), upper case, others become '<'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn").upper()
    return "".join(c if ("A" <= c <= "Z" or "0" <= c <= "9") else "<" for c in plain)


def name_field(family: str, given: str, width: int = 30) -> str:
    """`FAMILY<<GIVEN<NAMES`, truncated to the line width as ICAO allows."""
    primary = "<".join(part for part in transliterate(family).split("<") if part)
    secondary = "<".join(part for part in transliterate(given).split("<") if part)
    text = f"{primary}<<{secondary}" if secondary else primary
    return text[:width].ljust(width, "<")


def yymmdd(date: dt.date) -> str:
    return date.strftime("%y%m%d")


@dataclasses.dataclass(frozen=True, slots=True)
class TD1:
    """The three 30-character lines; `str(td1)` is what DG1's 5F1F holds (no separators)."""

    line1: str
    line2: str
    line3: str

    def __str__(self) -> str:
        return self.line1 + self.line2 + self.line3


def cccd_td1(
    *,
    cccd_number: str,
    date_of_birth: dt.date,
    sex: str,
    date_of_expiry: dt.date | None,
    family_name: str,
    given_names: str,
    issuing_state: str = "VNM",
    nationality: str = "VNM",
) -> TD1:
    """Build the CCCD MRZ: document number = last 9 digits of the ID, optional data = the full ID."""
    if len(cccd_number) != 12 or not (cccd_number.isascii() and cccd_number.isdigit()):
        raise ValueError("a CCCD number has 12 digits")
    if sex not in ("M", "F", "<"):
        raise ValueError("sex must be M, F or <")
    document_number = cccd_number[3:]
    optional1 = cccd_number.ljust(15, "<")
    line1 = f"ID{issuing_state}{document_number}{check_digit(document_number)}{optional1}"
    dob = yymmdd(date_of_birth)
    expiry = yymmdd(date_of_expiry) if date_of_expiry else "<<<<<<"  # no expiry (age 60+)
    optional2 = "<" * 11
    upper = line1[5:30]
    composite_source = upper + dob + check_digit(dob) + expiry + check_digit(expiry) + optional2
    line2 = (
        f"{dob}{check_digit(dob)}{sex}{expiry}{check_digit(expiry)}{nationality}{optional2}"
        f"{check_digit(composite_source)}"
    )
    line3 = name_field(family_name, given_names)
    td1 = TD1(line1, line2, line3)
    if any(len(line) != 30 for line in (line1, line2, line3)):
        raise AssertionError(f"TD1 lines must be 30 characters: {td1!r}")
    return td1

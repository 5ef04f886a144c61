"""Dates in the two spellings entitlement data arrives in: ISO yyyy-mm-dd and dd/MM/yyyy.

The card-check service speaks dd/MM/yyyy (and yyyy for year-only births); files and JSON use ISO.
"""

from __future__ import annotations

import datetime as dt
import re

_ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_VN = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")
_COMPACT = re.compile(r"^([0-9]{2})([0-9]{2})([0-9]{4})$")
_YEAR = re.compile(r"^([0-9]{4})$")


def _build(year: str, month: str, day: str, text: str) -> dt.date:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None


def parse_date(text: str) -> dt.date:
    """ISO yyyy-mm-dd or dd/MM/yyyy → date; ValueError naming the accepted forms otherwise."""
    s = text.strip()
    if m := _ISO.fullmatch(s):
        return _build(m[1], m[2], m[3], text)
    if m := _VN.fullmatch(s):
        return _build(m[3], m[2], m[1], text)
    raise ValueError(f"{text!r} is not a date (expected yyyy-mm-dd or dd/MM/yyyy)")


def parse_compact_date(text: str) -> dt.date:
    """ddMMyyyy (the CCCD QR's form) → date."""
    if m := _COMPACT.fullmatch(text):
        return _build(m[3], m[2], m[1], text)
    raise ValueError(f"{text!r} is not a date (expected ddMMyyyy)")


def format_vn(date: dt.date) -> str:
    """date → dd/MM/yyyy, the card-check service's spelling."""
    return f"{date.day:02d}/{date.month:02d}/{date.year:04d}"


def normalize_birth(text: str) -> str:
    """A date of birth in any accepted form → the stored form: dd/MM/yyyy, or yyyy if year-only."""
    s = text.strip()
    if m := _YEAR.fullmatch(s):
        if int(m[1]) < 1:
            raise ValueError(f"{text!r} is not a year")
        return s
    try:
        return format_vn(parse_date(s))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date of birth (expected dd/MM/yyyy, yyyy-mm-dd or yyyy)"
        ) from None


def birth_matches(stored: str, given: dt.date | str) -> bool:
    """Does a given date of birth agree with the stored one? Year-only on either side compares years."""
    stored_norm = normalize_birth(stored)
    given_norm = format_vn(given) if isinstance(given, dt.date) else normalize_birth(given)
    if len(stored_norm) == 4 or len(given_norm) == 4:
        return stored_norm[-4:] == given_norm[-4:]
    return stored_norm == given_norm

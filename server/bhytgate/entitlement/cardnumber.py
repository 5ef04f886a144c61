"""The three forms a BHYT lookup key comes in, parsed into typed values.

- the legacy 15-character card code `XX Y ZZ NNNNNNNNNN` (group, benefit code 1-5, province,
  10-digit social-insurance number), which hospital systems still see;
- the 10-digit social-insurance number (mã số BHXH), the only number printed on cards since 04/2021;
- the 12-digit CCCD (citizen ID) number.

Input is normalised only as far as typing habits go (surrounding whitespace, inner spaces or
hyphens as printed on cards, lower-case letters); anything else is an error, never a guess.
"""

from __future__ import annotations

import dataclasses
import enum
import re

from bhytgate import ids

CARD_NUMBER_RE = ids.CARD_NUMBER_RE
"""The 15-character card code, as the README defines it (ASCII only; use with fullmatch)."""

_BHXH_RE = ids.BHXH_RE
_CCCD_RE = ids.CCCD_RE
_SEPARATORS = re.compile(r"[\s\-]+")


class LookupKind(enum.StrEnum):
    CARD_NUMBER = "card_number"  # 15 characters
    SOCIAL_INSURANCE_NUMBER = "social_insurance_number"  # 10 digits
    CCCD_NUMBER = "cccd_number"  # 12 digits


class CardNumberError(ValueError):
    """A lookup key in none of the accepted forms. `message` never repeats the input in full."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class CardNumber:
    """A 15-character card code split into its parts."""

    value: str  # the normalised 15 characters
    group: str  # beneficiary group (đối tượng), 2 letters, e.g. "DN"
    benefit_code: int  # mức hưởng, 1..5
    province_code: str  # 2 digits
    social_insurance_number: str  # mã số BHXH, 10 digits

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True, slots=True)
class LookupKey:
    """One normalised lookup key; `card` is set only for the 15-character form."""

    kind: LookupKind
    value: str
    card: CardNumber | None = None

    @property
    def social_insurance_number(self) -> str | None:
        """The BHXH number when the key carries one (15- and 10-character forms)."""
        if self.card is not None:
            return self.card.social_insurance_number
        return self.value if self.kind is LookupKind.SOCIAL_INSURANCE_NUMBER else None


def normalize(text: str) -> str:
    """Drop spaces and hyphens (cards print `DN 4 79 ...`), upper-case letters."""
    return _SEPARATORS.sub("", text).upper()


def _describe(s: str) -> str:
    """Shape of a bad key without echoing it (it may be someone's ID number)."""
    return f"{len(s)} characters"


def parse_card_number(text: str) -> CardNumber:
    """Parse a 15-character card code; CardNumberError says which part is wrong."""
    s = normalize(text)
    if CARD_NUMBER_RE.fullmatch(s):
        return CardNumber(
            value=s,
            group=s[0:2],
            benefit_code=int(s[2]),
            province_code=s[3:5],
            social_insurance_number=s[5:15],
        )
    if len(s) != 15:
        raise CardNumberError(f"card number must be 15 characters, got {_describe(s)}")
    if not (s[0:2].isascii() and s[0:2].isalpha()):
        raise CardNumberError("card number characters 1-2 (beneficiary group) must be letters A-Z")
    if s[2] not in "12345":
        raise CardNumberError("card number character 3 (benefit code) must be a digit 1-5")
    if not (s[3:5].isascii() and s[3:5].isdigit()):
        raise CardNumberError("card number characters 4-5 (province code) must be digits")
    raise CardNumberError("card number characters 6-15 (social-insurance number) must be digits")


def is_card_number(text: str) -> bool:
    try:
        parse_card_number(text)
    except CardNumberError:
        return False
    return True


def parse_social_insurance_number(text: str) -> str:
    s = normalize(text)
    if not _BHXH_RE.fullmatch(s):
        raise CardNumberError(f"social-insurance number must be 10 digits, got {_describe(s)}")
    return s


def parse_cccd_number(text: str) -> str:
    s = normalize(text)
    if not _CCCD_RE.fullmatch(s):
        raise CardNumberError(f"CCCD number must be 12 digits, got {_describe(s)}")
    return s


def parse_lookup_key(text: str) -> LookupKey:
    """Any of the three forms → LookupKey, told apart by length (15, 10, 12)."""
    s = normalize(text)
    if len(s) == 15:
        return LookupKey(LookupKind.CARD_NUMBER, s, parse_card_number(s))
    if len(s) == 10:
        return LookupKey(LookupKind.SOCIAL_INSURANCE_NUMBER, parse_social_insurance_number(s))
    if len(s) == 12:
        return LookupKey(LookupKind.CCCD_NUMBER, parse_cccd_number(s))
    raise CardNumberError(
        "lookup key must be a 15-character card number, a 10-digit social-insurance number "
        f"or a 12-digit CCCD number, got {_describe(s)}"
    )

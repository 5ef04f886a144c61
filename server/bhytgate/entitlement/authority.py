"""Who may write the fund's card data: BHXH Việt Nam (facility code 00000) for every province, a
provincial BHXH office (a code ending in 000, e.g. 01000 for Hà Nội) for its own province only.

A hospital's admin manages its own terminals, but the cards are the fund's: a hospital that could
import entitlements could make a card valid, or raise its benefit level, for anyone. The caller's
facility comes from its certificate; a provincial office's rows of another province are row errors
(`parse_entitlements(province=...)`), so nothing of such a file is written.

The same offices record a holder's death (ReportDocumentLost with HOLDER_DECEASED), which blocks
every card of the person: a hospital's counter reports a lost or stolen card, not a death."""

from __future__ import annotations

FUND_FACILITY = "00000"


class ImportRefused(Exception):
    """The caller's facility may not import entitlements at all; the message says who may."""


def is_bhxh_office(facility: str) -> bool:
    """The fund (00000) or a provincial BHXH office (a code ending in 000), not a hospital."""
    return len(facility) == 5 and facility.isascii() and facility.isdigit() and facility.endswith("000")


def import_province(facility: str) -> str | None:
    """The province a facility may import cards for, `None` for every province (the fund).

    Raises ImportRefused for any other facility: a hospital, a clinic, a district office."""
    if facility == FUND_FACILITY:
        return None
    if is_bhxh_office(facility):
        return facility[:2]
    raise ImportRefused(
        f"facility {facility} may not import entitlements: the fund (facility {FUND_FACILITY})"
        " imports cards of every province, a provincial office (a code ending in 000) its own"
    )

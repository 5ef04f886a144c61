"""Who may write the fund's card data: BHXH Việt Nam (facility code 00000) for every province, a
provincial BHXH office (a code ending in 000, e.g. 01000 for Hà Nội) for its own province only.

A hospital's admin manages its own terminals, but the cards are the fund's: a hospital that could
import entitlements could make a card valid, or raise its benefit level, for anyone. The caller's
facility comes from its certificate; a provincial office's rows of another province are row errors
(`parse_entitlements(province=...)`), so nothing of such a file is written.

The same offices record a holder's death (ReportDocumentLost with HOLDER_DECEASED), which blocks
every card of the person: a hospital's counter reports a lost or stolen card, not a death. A
provincial office records the deaths of its own province's holders only (`death_refusal`)."""

from __future__ import annotations

from collections.abc import Sequence

from bhytgate.entitlement.importer import RowError
from bhytgate.entitlement.model import Entitlement

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


def foreign_holders(
    records: Sequence[Entitlement],
    rows: Sequence[int],
    held: Sequence[tuple[str | None, Entitlement]],
    province: str,
) -> list[RowError]:
    """A provincial office's rows for people who already hold a card of another province (`held`:
    the cards on file under the rows' CCCD and social-insurance numbers, each with the CCCD it is
    held under, a link's included). Its own province's card
    number alone did not stop it: the 01 office wrote a card under the CCCD of a holder of a
    province-79 card, with a better benefit level, and the next check-in released it (attack run,
    2026-12-03). Such a holder's cards are the fund's or their own province's office's to write."""
    foreign = [(via, e) for via, e in held if e.province_code != province]
    by_cccd = {via: e.province_code for via, e in foreign if via}  # own or linked (review, 2026-12-03)
    by_bhxh = {e.social_insurance_number: e.province_code for _, e in foreign}
    errors = []
    for record, row in zip(records, rows, strict=True):
        for field, other in (
            ("cccd_number", by_cccd.get(record.cccd_number or "")),
            ("social_insurance_number", by_bhxh.get(record.social_insurance_number)),
        ):
            if other is not None:
                errors.append(
                    RowError(
                        row,
                        field,
                        f"the holder has a card of province {other}: the fund (00000) or that"
                        " province's office writes their cards",
                    )
                )
                break
    return errors


def death_refusal(facility: str, cards: Sequence[Entitlement]) -> str | None:
    """Why `facility` may not record the death of the holder of `cards` (the cards on file under
    their CCCD, linked ones included), or None when it may: the fund for anyone, a provincial office
    for a holder whose cards are all of its province. Review, 2026-12-03: the 01 office could block
    every card of a province-79 holder; the province's own office or the fund knows of that death.
    A holder with no card on file is the fund's to record (no province says whose they are)."""
    if facility == FUND_FACILITY:
        return None
    if not is_bhxh_office(facility):
        return (
            f"facility {facility} may not record a holder's death: a BHXH office (the fund,"
            f" {FUND_FACILITY}, or a provincial office, a code ending in 000) does;"
            " report a lost or stolen card"
        )
    others = sorted({c.province_code for c in cards if c.province_code != facility[:2]})
    if others:
        return (
            f"facility {facility} may not record this holder's death: the holder has a card of province"
            f" {others[0]}; the fund ({FUND_FACILITY}) or that province's office records it"
        )
    if not cards:
        return (
            f"facility {facility} may not record this holder's death: no card of the holder is on file;"
            f" the fund ({FUND_FACILITY}) records it"
        )
    return None

"""Who may write the fund's card data: BHXH Việt Nam (facility code 00000) for every province, a
provincial BHXH office (a code ending in 000, e.g. 01000 for Hà Nội) for its own province only.

A hospital's admin manages its own terminals, but the cards are the fund's: a hospital that could
import entitlements could make a card valid, or raise its benefit level, for anyone. The caller's
facility comes from its certificate; a provincial office's rows of another province are row errors
(`parse_entitlements(province=...)`), so nothing of such a file is written.

The same offices record a holder's death (ReportDocumentLost with HOLDER_DECEASED), which blocks
every card of the person: a hospital's counter reports a lost or stolen card, not a death."""

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

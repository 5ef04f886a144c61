"""Card lab: a test CCCD issuer (PKI, chip dumps, attack variants, simulated Active Authentication).

Typical use::

    pki = ensure_pki(Path("var/pki"))
    citizen = make_citizen(7)
    card = issue_card(pki, citizen, Path("photo.jpg"))
    card.write(Path("var/cards/7"))
    forged = ATTACKS["dg13_edited"](card, AttackContext(pki))
    signatures = SimulatedChip.from_dump(Path("var/cards/7")).answer_challenge(challenge)
"""

from __future__ import annotations

from .attacks import ATTACKS, Attack, AttackContext, apply_attack
from .card import CardDump, IssueOptions, issue_card
from .chip import AaResponse, SimulatedChip, write_aa_response
from .citizens import Citizen, entitlement_for, load_identities, make_citizen
from .pki import Pki, PkiDates, create_pki, ensure_pki, load_pki, write_pki

__all__ = [
    "ATTACKS",
    "AaResponse",
    "Attack",
    "AttackContext",
    "CardDump",
    "Citizen",
    "IssueOptions",
    "Pki",
    "PkiDates",
    "SimulatedChip",
    "apply_attack",
    "create_pki",
    "ensure_pki",
    "entitlement_for",
    "issue_card",
    "load_identities",
    "load_pki",
    "make_citizen",
    "write_aa_response",
    "write_pki",
]

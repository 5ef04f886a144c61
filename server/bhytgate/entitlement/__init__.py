"""BHYT entitlements: the card record, its validity today, and the vocabulary hospitals know."""

from bhytgate.entitlement.model import Entitlement

__all__ = ["Entitlement"]

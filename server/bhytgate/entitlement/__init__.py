"""BHYT entitlements: the card record, its validity today, and the vocabulary hospitals know."""

from bhytgate.entitlement.model import Entitlement
from bhytgate.entitlement.result_codes import MaKetQua, is_success
from bhytgate.entitlement.validity import EntitlementCheck, check_entitlement

__all__ = ["Entitlement", "EntitlementCheck", "MaKetQua", "check_entitlement", "is_success"]

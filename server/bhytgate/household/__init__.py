"""Household BHYT renewal (gia hạn thẻ BHYT hộ gia đình): the premium and the renewed validity
(pure), and the signed receipt."""

from __future__ import annotations

import pytest

from bhytgate.entitlement.authority import ImportRefused, import_province


def test_the_fund_imports_every_province_an_office_its_own() -> None:
    assert import_province("00000") is None
    assert import_province("01000") == "01"
    assert import_province("79000") == "79"


@pytest.mark.parametrize("facility", ["01001", "79014", "01100", "0100", "٠١٠٠٠", "01000\n", ""])
def test_any_other_facility_is_refused(facility: str) -> None:
    with pytest.raises(ImportRefused, match="may not import entitlements"):
        import_province(facility)

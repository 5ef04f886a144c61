from __future__ import annotations

import datetime as dt

import pytest

from bhytgate.entitlement.benefit import BenefitPolicy, GroupRule, benefit_level

D = dt.date(2025, 6, 1)


def test_levels() -> None:
    assert [benefit_level(c).fund_share_percent for c in range(1, 6)] == [100, 100, 95, 80, 100]
    assert benefit_level(5).covers_out_of_scope and not benefit_level(1).within_caps
    with pytest.raises(ValueError):
        benefit_level(6)


def test_default_mapping() -> None:
    p = BenefitPolicy.default()
    assert p.expected_code("TE", D) == 1
    assert p.expected_code("HN", D) == 2
    assert p.expected_code("HT", D) == 3
    assert p.expected_code("DN", D) == 4
    assert p.expected_code("QN", D) == 5
    assert p.expected_code("ZZ", D) is None
    assert p.is_consistent("ZZ", 3, D) and not p.is_consistent("DN", 3, D)


def test_cn_lh_move_is_off_by_default_and_dated_when_on() -> None:
    assert BenefitPolicy.default().expected_code("CN", dt.date(2030, 1, 1)) == 3
    switch = dt.date(2026, 7, 1)
    p = BenefitPolicy.default(cn_lh_code2_from=switch)
    assert p.expected_code("CN", switch - dt.timedelta(days=1)) == 3
    assert p.expected_code("CN", switch) == 2
    assert p.expected_code("LH", switch - dt.timedelta(days=1)) is None
    assert p.expected_code("LH", switch) == 2


def test_from_config_adds_and_replaces() -> None:
    p = BenefitPolicy.from_config({"CN": [{"code": 2, "from": "01/01/2027"}], "DN": [{"code": 3}]})
    assert p.expected_code("CN", dt.date(2026, 12, 31)) == 3
    assert p.expected_code("CN", dt.date(2027, 1, 1)) == 2
    assert p.expected_code("DN", D) == 3  # undated rule replaced the default


@pytest.mark.parametrize(
    "config",
    [
        {"CN": [{"code": "2"}]},
        {"CN": [{"code": 9}]},
        {"CN": [{"code": 2, "from": "2027"}]},
        {"C1": [{"code": 2}]},
    ],
)
def test_bad_config_is_rejected(config: dict[str, list[dict[str, object]]]) -> None:
    with pytest.raises(ValueError):
        BenefitPolicy.from_config(config)


def test_two_rules_same_date_rejected() -> None:
    with pytest.raises(ValueError, match="same effective date"):
        BenefitPolicy([GroupRule("CN", 2, D), GroupRule("CN", 3, D)])

"""The household and privacy settings come from gateway.toml and are shared cluster settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bhytgate.household.premium import quote
from bhytgate.service.config import load_config, shared_settings


def test_base_salary_waiting_rule_and_retention_from_toml(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(
        """
[household]
base_salary = {"2024-07-01" = 2340000, "2026-07-01" = 2530000}
lapse_months = 6
waiting_days = 15
groups = ["GD", "XX"]

[consent]
version = "2026-07"
data_kinds = ["face_template"]

[retention]
sessions = 0.5
face_templates = 0
review_cases_column = "resolved_at"
""",
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    h = config.household
    assert (
        h.base_salary.at(dt.date(2026, 6, 30)) == 2_340_000
        and h.base_salary.at(dt.date(2026, 7, 1)) == 2_530_000
    )
    assert quote(1, 3, dt.date(2026, 7, 1), h.base_salary).total_vnd == 113_850 * 3
    assert (h.waiting.lapse_months, h.waiting.waiting_days) == (6, 15) and h.groups == {"GD", "XX"}
    r = config.privacy.retention
    assert (
        r.sessions == dt.timedelta(hours=12)
        and r.face_templates is None
        and r.review_cases_column == "resolved_at"
    )
    assert r.frame_fingerprints == dt.timedelta(days=1)  # the default stays
    assert config.privacy.terms.version == "2026-07" and config.privacy.terms.data_kinds == ("face_template",)
    shared = shared_settings(config)
    assert shared["household"]["base_salary"]["entries"][-1] == ["2026-07-01", 2_530_000]
    assert shared["privacy"]["retention"]["face_templates"] is None
    # without a file: the defaults
    other = load_config(tmp_path / "elsewhere")
    assert other.household.base_salary.at(dt.date(2026, 12, 1)) == 2_340_000

"""[console] settings: out-of-range or unknown values stop the start, with the setting's name."""

from __future__ import annotations

import pytest

from bhytgate.console.settings import ConsoleLimits


def test_defaults_and_a_toml_section() -> None:
    assert ConsoleLimits().requests_per_officer == 4
    assert ConsoleLimits.from_toml({"header_s": 5, "requests_per_officer": 2}).header_s == 5
    assert ConsoleLimits().dashboard_records == 200_000
    assert ConsoleLimits.from_toml({"dashboard_records": 5_000}).dashboard_records == 5_000


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"header_s": 0}, "console.header_s"),
        ({"body_s": 601}, "console.body_s"),
        ({"handshake_s": "10"}, "console.handshake_s"),
        ({"requests_per_officer": 0}, "console.requests_per_officer"),
        ({"max_connections": True}, "console.max_connections"),
        ({"connections_per_officer": 2.5}, "console.connections_per_officer"),
        ({"dashboard_records": 0}, "console.dashboard_records"),
        ({"dashboard_records": 10_000_001}, "console.dashboard_records"),
        ({"header_timeout": 3}, "unknown setting(s): header_timeout"),
    ],
)
def test_bad_settings_are_refused_by_name(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ConsoleLimits.from_toml(section)

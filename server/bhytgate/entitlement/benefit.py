"""Benefit code (mức hưởng, 1-5) → what the fund pays, and the dated group → code mapping.

Which code a beneficiary group gets changes by law over time (and some announced moves are
unconfirmed), so the mapping is a list of dated rules that configuration can extend; nothing
here decides a claim by itself. Since Luật 51/2024/QH15 the hospital computes the final rate from
level of care and route, so the gateway returns the code, not a percentage: `BenefitLevel` is for
display and for plausibility checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping

from bhytgate.entitlement.dates import parse_date


@dataclasses.dataclass(frozen=True, slots=True)
class BenefitLevel:
    code: int
    fund_share_percent: int  # share of covered costs the fund pays
    within_caps: bool  # True: subject to the caps on technical services/drugs
    covers_out_of_scope: bool  # True: also pays costs outside the BHYT scope (code 5)
    description: str


BENEFIT_LEVELS: Mapping[int, BenefitLevel] = {
    1: BenefitLevel(1, 100, False, False, "100%, no caps (e.g. CC, TE children under 6)"),
    2: BenefitLevel(2, 100, True, False, "100% within caps (e.g. HN, CK, CB, KC, DT, BT, TS)"),
    3: BenefitLevel(3, 95, True, False, "95% (e.g. HT pensioners, CN near-poor)"),
    4: BenefitLevel(4, 80, True, False, "80% (e.g. DN, HC, HS, SV, GD)"),
    5: BenefitLevel(5, 100, False, True, "100% including out-of-scope costs (QN, CA, CY)"),
}


def benefit_level(code: int) -> BenefitLevel:
    """Code → level; ValueError outside 1-5."""
    try:
        return BENEFIT_LEVELS[code]
    except KeyError:
        raise ValueError(f"benefit code must be 1-5, got {code}") from None


_GROUP_RE = re.compile(r"[A-Z]{2}")


@dataclasses.dataclass(frozen=True, slots=True)
class GroupRule:
    """From `effective_from` (None = always), cards of `group` carry benefit `code`."""

    group: str
    code: int
    effective_from: dt.date | None = None

    def __post_init__(self) -> None:
        benefit_level(self.code)
        if not _GROUP_RE.fullmatch(self.group):
            raise ValueError(f"beneficiary group must be 2 letters A-Z, got {self.group!r}")


# The usual code per group (Nghị định 146/2018 and the README); not exhaustive. Groups not listed
# have no expected code and are not checked.
_DEFAULT_CODES: dict[int, tuple[str, ...]] = {
    1: ("CC", "TE"),
    2: ("CK", "CB", "KC", "HN", "DT", "DK", "XD", "BT", "TS"),
    3: ("HT", "TC", "CN"),
    4: (
        "DN",
        "HX",
        "CH",
        "NN",
        "TK",
        "HC",
        "XK",
        "TB",
        "NO",
        "XB",
        "TN",
        "CS",
        "XN",
        "MS",
        "HD",
        "TQ",
        "TA",
        "TY",
        "HG",
        "LS",
        "PV",
        "HS",
        "SV",
        "GB",
        "GD",
    ),
    5: ("QN", "CA", "CY"),
}

DEFAULT_RULES: tuple[GroupRule, ...] = tuple(
    GroupRule(group, code) for code, groups in _DEFAULT_CODES.items() for group in groups
)

UNCONFIRMED_CN_LH_CODE = 2
"""CN (near-poor) and LH moving to code 2 from 2026 or 2027 is unconfirmed: opt in with a date."""


class BenefitPolicy:
    """Dated group → code rules. Immutable; build a new one to change configuration."""

    def __init__(self, rules: Iterable[GroupRule]) -> None:
        by_group: dict[str, list[GroupRule]] = {}
        for rule in rules:
            by_group.setdefault(rule.group, []).append(rule)
        for group, group_rules in by_group.items():
            starts = [r.effective_from for r in group_rules]
            if len(set(starts)) != len(starts):
                raise ValueError(f"group {group}: two rules with the same effective date")
            group_rules.sort(key=lambda r: r.effective_from or dt.date.min)
        self._rules = by_group

    @classmethod
    def default(cls, *, cn_lh_code2_from: dt.date | None = None) -> BenefitPolicy:
        """The usual mapping; with a date, CN and LH carry code 2 from that date (off by default)."""
        rules = list(DEFAULT_RULES)
        if cn_lh_code2_from is not None:
            rules += [
                GroupRule("CN", UNCONFIRMED_CN_LH_CODE, cn_lh_code2_from),
                GroupRule("LH", UNCONFIRMED_CN_LH_CODE, cn_lh_code2_from),
            ]
        return cls(rules)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Iterable[Mapping[str, object]]],
        *,
        base: Iterable[GroupRule] = DEFAULT_RULES,
    ) -> BenefitPolicy:
        """Rules from configuration, added to `base`.

        Shape: ``{"CN": [{"code": 2, "from": "2026-01-01"}], "XY": [{"code": 4}]}``; "from" is
        yyyy-mm-dd or dd/MM/yyyy and may be omitted (always). A configured rule with the same
        group and date as a base rule replaces it.
        """
        configured: list[GroupRule] = []
        for group, entries in config.items():
            for entry in entries:
                code = entry.get("code")
                if not isinstance(code, int) or isinstance(code, bool):
                    raise ValueError(f"group {group}: 'code' must be an integer 1-5")
                start = entry.get("from")
                if start is not None and not isinstance(start, str):
                    raise ValueError(f"group {group}: 'from' must be a date string")
                configured.append(GroupRule(group, code, parse_date(start) if start else None))
        keys = {(r.group, r.effective_from) for r in configured}
        kept = [r for r in base if (r.group, r.effective_from) not in keys]
        return cls([*kept, *configured])

    def expected_code(self, group: str, on: dt.date) -> int | None:
        """The code `group` carries on `on`, or None if the policy has no rule for it then."""
        current: int | None = None
        for rule in self._rules.get(group, ()):
            if rule.effective_from is None or rule.effective_from <= on:
                current = rule.code
            else:
                break
        return current

    def is_consistent(self, group: str, code: int, on: dt.date) -> bool:
        """False only when a rule applies and says otherwise (unknown groups pass)."""
        expected = self.expected_code(group, on)
        return expected is None or expected == code

    def rules(self) -> list[GroupRule]:
        return [r for group_rules in self._rules.values() for r in group_rules]

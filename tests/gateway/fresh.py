"""A citizen of a test's own: a new card (new CCCD, real photo) and its entitlement imported.

Tests that check someone in at a second facility, or that need the only check-in of a person
that day, use one: the shared deployment's demo citizens are checked in by many tests, and a check
at another facility would trip the velocity rule for them (and theirs for it)."""

from __future__ import annotations

import json
from pathlib import Path

from bhytgate_clients.cardlab import card as cardlab
from bhytgate_clients.cardlab import citizens
from bhytgate_clients.cardlab.pki import load_pki

from .conftest import Deployment
from .test_e2e import live_photos


def fresh_card(d: Deployment, out: Path, seed: str, *, face: str = "obama") -> tuple[Path, list[Path]]:
    """(card folder, live photos): the chip portrait and the live captures are those of the demo
    card of `face`."""
    demo = d.card(face)
    source = Path(json.loads((demo / "card.json").read_text(encoding="utf-8"))["photo_source"])
    dump = cardlab.issue_card(
        load_pki(d.dev.demo / "pki"),
        citizens.make_citizen(seed, sex="M"),
        source,
        cardlab.IssueOptions(),
        seed=seed,
    )
    dump.write(out)
    with d.client("bhxh-admin-01") as admin:
        assert admin.import_entitlements(json.dumps(dump.entitlement).encode(), "jsonl").imported_count == 1
    return out, live_photos(d, demo)

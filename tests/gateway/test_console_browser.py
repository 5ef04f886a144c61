"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright, with
the officer's client certificate, as an officer would use it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bhytgate.api.v1 import gateway_pb2 as pb
from bhytgate.pki.devca import PkiLayout, TerminalIdentity, add_terminal

from .conftest import Deployment
from .test_e2e import check

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.claims_gen import Visit, claims_bytes  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI needs Chromium for the console tests: scripts/bootstrap.sh installs it as root")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def page_as(browser: Any, d: Deployment, terminal: str) -> Any:
    console = d.running.console
    assert console is not None
    layout = PkiLayout(d.home / "pki")
    context = browser.new_context(
        ignore_https_errors=True,  # the dev CA is not in Chromium's store; mTLS is what is tested
        client_certificates=[
            {
                "origin": f"https://127.0.0.1:{console.port}",
                "certPath": str(layout.terminal_cert(terminal)),
                "keyPath": str(layout.terminal_key(terminal)),
            }
        ],
    )
    return context.new_page(), f"https://127.0.0.1:{console.port}"


def test_an_officer_sees_the_dashboard_with_its_chart(browser: Any, deployment: Deployment) -> None:
    page, base = page_as(browser, deployment, "admin-01")
    page.goto(f"{base}/?hours=24")
    assert page.title().startswith("Dashboard")
    assert "admin-01" in page.locator("header .who").inner_text()
    assert page.locator("#chart-reasons svg").count() == 1
    page.select_option("select[name=hours]", "1")
    page.click("button[type=submit]")
    assert page.url.endswith("hours=1")
    assert page.locator("#terminals").is_visible()
    page.context.close()


def test_a_check_in_terminal_certificate_is_turned_away(browser: Any, deployment: Deployment) -> None:
    page, base = page_as(browser, deployment, "desk-01")
    response = page.goto(f"{base}/")
    assert response is not None and response.status == 403
    page.context.close()


def test_a_reviewer_resolves_a_velocity_case_in_the_browser(
    browser: Any, deployment: Deployment, clock: Callable[[dt.timedelta], None]
) -> None:
    d = deployment
    # A month back on the gateway's clock, so this card's two facilities are out of every other
    # test's velocity window.
    clock(-dt.timedelta(days=40))
    card = d.card("rose-leslie")
    check(d, card, terminal="desk-01")
    second = check(d, card, terminal="desk-02")  # facility 79014: a second facility within 6 h
    assert second.decision == "REVIEW", second.reasons
    vid = second.verification_id
    reviewer = "console-reviewer-79014"
    if not (d.home / "pki" / "terminals" / f"{reviewer}.pem").exists():
        add_terminal(d.home / "pki", TerminalIdentity(reviewer, "79014", "reviewer", "desk"))  # type: ignore[arg-type]
    page, base = page_as(browser, d, reviewer)
    page.goto(f"{base}/review")
    case = page.locator(f"#case-{vid}")
    assert "FRAUD_VELOCITY" in case.inner_text()
    case.locator("button.accept").click()  # no reason yet: the browser itself refuses (required)
    assert page.url.endswith("/review")
    case.locator("textarea[name=reason]").fill("referred from 01001 the same morning; papers seen")
    case.locator("button.accept").click()
    assert "resolved: ACCEPTED" in page.locator(".flash").inner_text()
    assert page.locator(f"#case-{vid}").count() == 0
    # the waiting desk learns it over gRPC: accepted, with an attestation naming the reviewer
    with d.client("desk-02") as desk:
        got = desk.get_review_case(vid)
    assert got.review_case.state == pb.REVIEW_STATE_ACCEPTED and got.review_case.reviewer == reviewer
    assert got.attestation and got.entitlement.ma_the
    # a check-in terminal's certificate cannot reach the queue; an admin has no queue either
    page.context.close()
    for terminal in ("desk-02", "admin-01"):
        other, base = page_as(browser, d, terminal)
        response = other.goto(f"{base}/review")
        assert response is not None and response.status == 403
        other.context.close()


def test_an_admin_reconciles_a_claims_file_in_the_browser(
    browser: Any, deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    accepted = check(d, d.card("obama"), terminal="clean-desk")
    assert accepted.decision == "ACCEPTED", accepted.reasons
    meta = json.loads((d.card("obama") / "entitlement.json").read_text(encoding="utf-8"))
    assert accepted.checkin_record is not None
    found = re.search(r"<SO_CCCD>(\d{12})</SO_CCCD>", accepted.checkin_record)
    assert found is not None
    cccd, card_number, now = found.group(1), meta["card_number"], dt.datetime.now(dt.UTC)
    visits = [
        Visit("LK-CONSOLE-1", cccd, card_number, now - dt.timedelta(minutes=5), "01001", "350000"),
        Visit("LK-CONSOLE-2", cccd, card_number, now - dt.timedelta(days=30), "01001", "120000"),
    ]
    path = tmp_path / "claims.xml"
    path.write_bytes(claims_bytes("01001", visits))
    page, base = page_as(browser, d, "admin-01")
    page.goto(f"{base}/claims")
    page.set_input_files("input[name=file]", str(path))
    page.click("#claims-form button[type=submit]")
    summary = page.locator("#claims-summary")
    assert summary.locator("tr[data-class=verified] .count").inner_text() == "1"
    assert summary.locator("tr[data-class=unverified] .count").inner_text() == "1"
    assert summary.locator("tr[data-class=unverified] .amount").inner_text() == "120,000"
    assert "LK-CONSOLE-2" in page.locator("#claims-dossiers").inner_text()
    # a file that is not a claims envelope: one clear message, no traceback
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<?xml version='1.0'?><NOTCLAIMS/>")
    page.set_input_files("input[name=file]", str(bad))
    page.click("#claims-form button[type=submit]")
    assert "Claims file:" in page.locator("#claims-error").inner_text()
    page.context.close()

"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright, with
the officer's client certificate, as an officer would use it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from bhytgate.pki.devca import PkiLayout

from .conftest import Deployment

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

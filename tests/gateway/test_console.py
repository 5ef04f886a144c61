"""The officers' console over real HTTPS with mTLS, beside the gRPC port of the same gateway."""

from __future__ import annotations

import datetime as dt
import http.client
import re
import ssl
import sys
import urllib.parse
from pathlib import Path

import pytest

from bhytgate.pki.devca import PkiLayout

from .conftest import Deployment
from .fresh import fresh_card
from .test_e2e import check

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.claims_gen import Visit, claims_bytes  # noqa: E402


def _context(pki: Path, terminal: str | None) -> ssl.SSLContext:
    layout = PkiLayout(pki)
    ctx = ssl.create_default_context(cafile=str(layout.ca_cert))
    if terminal is not None:
        ctx.load_cert_chain(str(layout.terminal_cert(terminal)), str(layout.terminal_key(terminal)))
    return ctx


def request(
    d: Deployment, terminal: str | None, method: str, path: str, form: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    console = d.running.console
    assert console is not None
    conn = http.client.HTTPSConnection(
        "127.0.0.1", console.port, context=_context(d.home / "pki", terminal), timeout=30
    )
    try:
        body = None if form is None else urllib.parse.urlencode(form)
        headers = {} if form is None else {"Content-Type": "application/x-www-form-urlencoded"}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode("utf-8")
    finally:
        conn.close()


def test_the_console_refuses_a_connection_without_a_terminal_certificate(deployment: Deployment) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        request(deployment, None, "GET", "/")


def test_a_check_in_terminal_may_not_use_the_console(deployment: Deployment) -> None:
    status, headers, body = request(deployment, "desk-01", "GET", "/")
    assert status == 403 and "hospital-checkin may not use the console" in body
    assert headers["x-frame-options"] == "DENY"


def test_the_dashboard_counts_the_decisions_just_made(deployment: Deployment) -> None:
    def counts() -> dict[str, int]:
        status, headers, body = request(deployment, "admin-01", "GET", "/?hours=1")
        assert status == 200, body
        assert "script-src" not in headers["content-security-policy"]  # no scripts at all
        assert "default-src 'none'" in headers["content-security-policy"]
        return {m[0]: int(m[1]) for m in re.findall(r'data-decision="(\w+)">\w+ (\d+)', body)}

    before = counts()
    accepted = check(deployment, deployment.card("obama"), terminal="clean-desk")
    assert accepted.decision == "ACCEPTED"
    after = counts()
    assert after.get("ACCEPTED", 0) == before.get("ACCEPTED", 0) + 1
    _, _, body = request(deployment, "admin-01", "GET", "/?hours=1")
    assert 'data-series="ACCEPTED"' in body  # the chart has a bar for it


def test_the_dashboard_counts_the_officers_own_facility_and_the_auditors_every_one(
    deployment: Deployment, tmp_path: Path
) -> None:
    def counts(officer: str) -> dict[str, int]:
        status, _, body = request(deployment, officer, "GET", "/?hours=1")
        assert status == 200, body
        return {m[0]: int(m[1]) for m in re.findall(r'data-decision="(\w+)">\w+ (\d+)', body)}

    admin, auditor = counts("admin-01"), counts("auditor-01")
    # desk-02 belongs to facility 79014: not admin-01's (01001). A citizen of the test's own, so
    # that no other test's check-in at 01001 makes this one a velocity case.
    card, photos = fresh_card(deployment, tmp_path / "card", "console-scope-1")
    accepted = check(deployment, card, terminal="desk-02", photos=photos)
    assert accepted.decision == "ACCEPTED"
    assert counts("admin-01") == admin
    assert counts("auditor-01").get("ACCEPTED", 0) == auditor.get("ACCEPTED", 0) + 1
    _, _, body = request(deployment, "admin-01", "GET", "/?hours=1")
    assert "facility 01001" in body and "desk-02" not in body


def test_a_window_the_console_does_not_offer_is_a_clear_400(deployment: Deployment) -> None:
    status, _, body = request(deployment, "admin-01", "GET", "/?hours=9999")
    assert status == 400 and "hours must be one of" in body


@pytest.mark.parametrize(
    "hours",
    [
        "%EF%BC%92%EF%BC%94",  # fullwidth "２４": int() read it as 24
        "%D9%A2%D9%A4",  # Arabic-Indic "٢٤"
        "%E0%A5%A8%E0%A5%AA",  # Devanagari "२४"
        "2_4",  # int() takes digit-group underscores
        "%2B24",  # "+24"
        "%2024",  # " 24"
        "24%0A",  # "24\n"
        "abc",
    ],
)
def test_hours_other_than_ascii_digits_are_the_same_400(deployment: Deployment, hours: str) -> None:
    """Attack run: the dashboard took any digits int() reads (other scripts, '_', a sign,
    whitespace) as a window; only ASCII digits are one, anything else is the 400 of an unknown one."""
    status, _, body = request(deployment, "admin-01", "GET", f"/?hours={hours}")
    assert status == 400 and "hours must be one of 1, 6, 24, 72, 168" in body
    status, _, _ = request(deployment, "admin-01", "GET", "/?hours=24")
    assert status == 200


def test_a_post_without_the_form_token_of_this_certificate_is_refused(deployment: Deployment) -> None:
    status, _, body = request(deployment, "admin-01", "POST", "/", {"csrf": "0" * 64})
    assert status == 403 and "form token" in body


def test_a_form_posted_the_wrong_way_is_a_clear_4xx(deployment: Deployment) -> None:
    status, _, page = request(deployment, "admin-01", "GET", "/claims")
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert status == 200 and token is not None
    status, _, body = request(deployment, "admin-01", "POST", "/claims", {"csrf": token.group(1)})
    assert status == 400 and "multipart/form-data" in body
    status, _, body = request(deployment, "reviewer-01", "POST", "/review/" + "0" * 32, {"csrf": "x"})
    assert status == 403  # a form token of another certificate


def test_an_upload_of_two_files_is_refused_not_half_reconciled(deployment: Deployment) -> None:
    _, _, page = request(deployment, "admin-01", "GET", "/claims")
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert token is not None
    boundary = "b0undary"
    envelope = b"<?xml version='1.0'?><GIAMDINHHS></GIAMDINHHS>"
    parts = [(b'name="csrf"', token.group(1).encode())]
    parts += [(f'name="file"; filename="{n}.xml"'.encode(), envelope) for n in ("a", "b")]
    body = (
        b"".join(
            b"--"
            + boundary.encode()
            + b"\r\nContent-Disposition: form-data; "
            + disp
            + b"\r\n\r\n"
            + data
            + b"\r\n"
            for disp, data in parts
        )
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )
    console = deployment.running.console
    assert console is not None
    conn = http.client.HTTPSConnection(
        "127.0.0.1", console.port, context=_context(deployment.home / "pki", "admin-01"), timeout=30
    )
    try:
        conn.request(
            "POST",
            "/claims",
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        resp = conn.getresponse()
        text = resp.read().decode("utf-8")
    finally:
        conn.close()
    assert resp.status == 400 and "one claims file at a time" in text


def upload(d: Deployment, terminal: str, data: bytes, window_minutes: bytes | None = None) -> tuple[int, str]:
    """The claims page's form, as a browser posts it: token first, the window if given, then the file."""
    _, _, page = request(d, terminal, "GET", "/claims")
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert token is not None, page
    boundary = "b0undary"
    parts = [(b'name="csrf"', token.group(1).encode())]
    if window_minutes is not None:
        parts.append((b'name="window_minutes"', window_minutes))
    parts.append((b'name="file"; filename="c.xml"', data))
    body = b"".join(
        b"--"
        + boundary.encode()
        + b"\r\nContent-Disposition: form-data; "
        + disp
        + b"\r\n\r\n"
        + part
        + b"\r\n"
        for disp, part in parts
    )
    body += b"--" + boundary.encode() + b"--\r\n"
    console = d.running.console
    assert console is not None
    conn = http.client.HTTPSConnection(
        "127.0.0.1", console.port, context=_context(d.home / "pki", terminal), timeout=60
    )
    try:
        conn.request(
            "POST",
            "/claims",
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8")
    finally:
        conn.close()


def test_an_admin_reconciles_its_own_facilitys_files_in_the_console_and_the_auditor_any(
    deployment: Deployment,
) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    data = claims_bytes("79014", [Visit("LK-CONSOLE-1", "079200000123", "DN4790000012345", at, "79014")])
    status, body = upload(deployment, "admin-01", data)  # an admin of 01001
    assert status == 403 and "an admin of facility 01001 reconciles its own facility&#39;s files only" in body
    status, body = upload(deployment, "auditor-01", data)
    assert status == 200 and "LK-CONSOLE-1" in body


@pytest.mark.parametrize(
    "window",
    [
        b"0000000000000005" + b"9",  # read as its first 16 characters: 5 minutes, not 59
        b" 5",
        "５".encode(),
        b"+5",
        b"1_0",
        b"10081",  # one past the 7 days
    ],
)
def test_a_claims_window_other_than_ascii_digits_in_range_is_refused(
    deployment: Deployment, window: bytes
) -> None:
    """Attack run follow-up: the window is ASCII digits in full or the form's 400, never a part of it."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    data = claims_bytes("01001", [Visit("LK-WINDOW-1", "001200000123", "DN4010000012345", at, "01001")])
    status, body = upload(deployment, "admin-01", data, window)
    assert status == 400 and "Window must be 0 (default) to 10080 minutes." in body
    status, body = upload(deployment, "admin-01", data, b"59")
    assert status == 200 and "LK-WINDOW-1" in body

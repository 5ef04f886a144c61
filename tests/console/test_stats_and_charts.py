"""Dashboard aggregation and the SVG chart, as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from bhytgate.console import charts, stats

UNTIL = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def body(
    minutes_ago: float,
    decision: str,
    *codes: str,
    terminal: str = "desk-01",
    action: str = "verify",
    facility: str = "01001",
) -> dict[str, object]:
    at = UNTIL - dt.timedelta(minutes=minutes_ago)
    return {
        "at": at.isoformat().replace("+00:00", "Z"),
        "decision": decision,
        "reasons": [{"code": c, "detail": ""} for c in codes],
        "facility": facility,
        "terminal": terminal,
        "action": action,
    }


def decisions(*bodies: dict[str, object]) -> list[stats.Decision]:
    out = [stats.decode(b) for b in bodies]
    return [d for d in out if d is not None]


def test_decisions_land_in_their_bucket_by_reason() -> None:
    ds = decisions(
        body(5, "ACCEPTED"),
        body(65, "REJECTED", "FACE_MISMATCH", "FACE_MISMATCH"),
        body(70, "REVIEW", "FRAUD_VELOCITY"),
        body(60 * 25, "ACCEPTED"),  # outside the window
        body(1, "ACCEPTED", action="enroll"),  # not a check-in decision
    )
    dash = stats.build(ds, until=UNTIL, window=dt.timedelta(hours=3))
    assert len(dash.buckets) == 3 and dash.buckets[0] == UNTIL - dt.timedelta(hours=3)
    assert dash.by_reason["ACCEPTED"] == (0, 0, 1)
    assert dash.by_reason["FACE_MISMATCH"] == (0, 1, 0)  # a reason repeated counts once
    assert dash.by_reason["FRAUD_VELOCITY"] == (0, 1, 0)
    assert dash.decisions == {"ACCEPTED": 1, "REJECTED": 1, "REVIEW": 1}
    assert [e.kind for e in dash.events] == ["velocity"]
    assert next(iter(dash.by_reason)) == "ACCEPTED"


def test_an_officer_counts_its_own_facility_or_province_and_the_auditor_every_one() -> None:
    ds = decisions(
        body(1, "ACCEPTED", facility="01001"),
        body(2, "REJECTED", "FRAUD_VELOCITY", facility="79014", terminal="desk-02"),
        body(3, "ACCEPTED", facility="79001"),
    )
    for role, facility, expected in (
        ("admin", "01001", {"ACCEPTED": 1}),
        ("reviewer", "79014", {"REJECTED": 1}),
        ("reviewer", "79000", {"ACCEPTED": 1, "REJECTED": 1}),  # the province's office
        ("auditor", "00000", {"ACCEPTED": 2, "REJECTED": 1}),
    ):
        scope = stats.Scope.of(role, facility)
        dash = stats.build(ds, until=UNTIL, scope=scope)
        assert dash.decisions == expected, (role, facility)
        assert all(scope.covers(e.facility) for e in dash.events)
    assert stats.Scope.of("admin", "01001").describe() == "facility 01001"
    assert stats.Scope.of("auditor", "00000").describe() == "every facility"


def test_terminals_with_too_few_decisions_are_left_out_and_spikes_come_first() -> None:
    ds = decisions(
        *[body(i, "REJECTED", "FACE_MISMATCH", terminal="bad-desk") for i in range(6)],
        *[body(i, "ACCEPTED", terminal="good-desk") for i in range(8)],
        body(3, "REJECTED", "NO_FACE", terminal="quiet-desk"),
    )
    rows = stats.build(ds, until=UNTIL).terminals
    assert [r.terminal for r in rows] == ["bad-desk", "good-desk"]
    assert rows[0].rejection_rate == 1.0 and rows[1].rejection_rate == 0.0


def test_unreadable_bodies_are_skipped_not_fatal() -> None:
    assert stats.decode({"at": "yesterday", "decision": "ACCEPTED"}) is None
    assert stats.decode({"decision": "ACCEPTED"}) is None


def test_a_window_shorter_than_its_bucket_is_refused() -> None:
    with pytest.raises(ValueError):
        stats.build([], until=UNTIL, window=dt.timedelta(minutes=5), bucket=dt.timedelta(hours=1))


def test_the_chart_escapes_labels_and_draws_one_rect_per_nonzero_count() -> None:
    buckets = [UNTIL - dt.timedelta(hours=2), UNTIL - dt.timedelta(hours=1)]
    svg = charts.stacked_bars(buckets, {"ACCEPTED": [2, 0], "<script>": [1, 3]}, title="t & <b>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "t &amp; &lt;b&gt;" in svg
    assert svg.count('class="bar"') == 3


def test_series_beyond_the_palette_budget_are_summed_as_other() -> None:
    series = {f"R{i}": [1] for i in range(10)}
    svg = charts.stacked_bars([UNTIL], series, title="x", max_series=4)
    assert 'data-series="OTHER" data-count="7"' in svg


def test_a_form_token_is_bound_to_the_certificate_and_expires() -> None:
    from bhytgate.console.auth import TOKEN_PERIOD_S, Officer, csrf_ok, csrf_token

    key = b"k" * 32
    alice = Officer("reviewer-01", "01001", "reviewer", "desk", b"a" * 32)
    bob = Officer("reviewer-02", "01001", "reviewer", "desk", b"b" * 32)
    t = 1_800_000_000.0
    token = csrf_token(key, alice, now=t)
    assert csrf_ok(key, alice, token, now=t)
    assert csrf_ok(key, alice, token, now=t + TOKEN_PERIOD_S)  # a page rendered before the boundary
    assert not csrf_ok(key, alice, token, now=t + 2 * TOKEN_PERIOD_S)  # then it is stale
    assert not csrf_ok(key, bob, token, now=t)
    assert not csrf_ok(key, alice, "é" * 64, now=t)

"""FairTurns: the one-at-a-time turn goes to facilities refused while it was taken, in order."""

from __future__ import annotations

import pytest

from bhytgate.service.turns import FairTurns


def test_first_come_when_nobody_waits() -> None:
    turns = FairTurns(5.0)
    assert turns.request("01001", 0.0).granted
    assert turns.running == "01001"
    turns.done(1.0)
    assert turns.request("01001", 1.0).granted


def test_a_refused_facility_goes_before_the_one_that_just_ran() -> None:
    turns = FairTurns(5.0)
    assert turns.request("79014", 0.0).granted
    refused = turns.request("00000", 0.1)
    assert not refused.granted and refused.ahead == 0
    assert turns.request("79014", 0.2).ahead == 1  # the loop, behind the fund
    turns.done(1.0)
    again = turns.request("79014", 1.0)
    assert not again.granted and again.ahead == 1 and turns.running is None
    assert turns.request("00000", 1.5).granted
    turns.done(2.5)
    assert turns.request("79014", 2.6).granted  # its place was kept
    assert turns.waiting == ()


def test_a_waiting_facility_that_gave_up_frees_the_turn_after_the_hold() -> None:
    turns = FairTurns(5.0)
    assert turns.request("79014", 0.0).granted
    assert not turns.request("00000", 0.5).granted
    turns.done(1.0)
    assert not turns.request("79014", 5.9).granted  # the hold counts from the check's end
    assert turns.request("79014", 6.1).granted  # the fund did not come back within 5 s


def test_the_order_is_that_of_first_refusal() -> None:
    turns = FairTurns(5.0)
    turns.request("a", 0.0)
    for who in ("b", "c", "b", "c"):
        turns.request(who, 0.1)
    assert turns.waiting == ("b", "c")
    turns.done(1.0)
    assert not turns.request("c", 1.0).granted
    assert turns.request("b", 1.1).granted


def test_hold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FairTurns(0.0)

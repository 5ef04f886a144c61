"""The guardian rule and the unreadable-answer rule: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bhytgate.chip.active import unreadable_answer, verify_active_authentication
from bhytgate.chip.crypto.keys import PublicKey
from bhytgate.policy.guardian import GuardianFacts, GuardianRule, age_years, guardian_reasons

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
GOOD = GuardianFacts("ACCEPTED", True, "desk-01", NOW - dt.timedelta(minutes=3), "001185000123")
CHILD = dict(terminal_id="desk-01", child_document="079223770011", child_has_face_image=False)


def reasons(guardian: GuardianFacts | None = GOOD, **kw: object) -> list[str]:
    args: dict[str, object] = {**CHILD, "child_dob": dt.date(2023, 5, 1), "now": NOW, "rule": GuardianRule()}
    args.update(kw)
    return [r.code for r in guardian_reasons(guardian, **args)]  # type: ignore[arg-type]


def test_a_fresh_accepted_guardian_at_the_same_terminal_vouches_for_a_young_child() -> None:
    assert reasons() == []


@pytest.mark.parametrize(
    "guardian",
    [
        None,
        GuardianFacts("REVIEW", True, "desk-01", NOW, "001185000123"),
        GuardianFacts("ACCEPTED", False, "desk-01", NOW, "001185000123"),  # itself vouched for
        GuardianFacts("ACCEPTED", True, "desk-02", NOW, "001185000123"),
        GuardianFacts("ACCEPTED", True, "desk-01", NOW - dt.timedelta(minutes=16), "001185000123"),
        GuardianFacts("ACCEPTED", True, "desk-01", NOW + dt.timedelta(minutes=1), "001185000123"),
        GuardianFacts("ACCEPTED", True, "desk-01", NOW, "079223770011"),  # the child's own card
    ],
)
def test_a_guardian_that_was_not_verified_here_and_now_cannot_vouch(guardian: GuardianFacts | None) -> None:
    assert "GUARDIAN_NOT_VERIFIED" in reasons(guardian)


def test_the_path_is_closed_to_cards_with_a_photo_and_to_older_holders() -> None:
    assert reasons(child_has_face_image=True) == ["GUARDIAN_NOT_APPLICABLE"]
    assert reasons(child_dob=dt.date(2020, 12, 1)) == ["GUARDIAN_NOT_APPLICABLE"]  # 6 today
    assert reasons(child_dob=dt.date(2020, 12, 2)) == []  # 6 tomorrow
    assert reasons(child_dob=None) == ["GUARDIAN_NOT_APPLICABLE"]
    assert age_years(dt.date(2020, 2, 29), dt.date(2026, 2, 28)) == 5


def _rsa() -> tuple[PublicKey, int]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    return PublicKey("rsa", None, 1024, False, key), 128


def test_only_an_answer_that_cannot_be_a_signature_is_unreadable() -> None:
    key, size = _rsa()
    assert unreadable_answer(key, b"") is not None
    assert unreadable_answer(key, b"\x00" * size) is not None  # a constant read
    assert unreadable_answer(key, b"\x01\x02" * (size // 4)) is not None  # half the block
    assert unreadable_answer(key, bytes(range(size))) is None  # full length: a wrong signature
    challenge = bytes(32)
    cut = verify_active_authentication(key, challenge, [bytes(range(64))] * 4, ec_hash=None)
    assert (cut.valid, cut.reason) == (False, "aa_answer_unreadable")
    wrong = verify_active_authentication(key, challenge, [bytes(range(size))] * 4, ec_hash=None)
    assert (wrong.valid, wrong.reason) == (False, "aa_signature_invalid")

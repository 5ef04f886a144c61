"""Decision combiner and fraud rules: pure inputs in, outcome and reasons out."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhytgate.policy import (
    AssuranceLevel,
    CheckResults,
    DocumentSource,
    FaceMatch,
    FraudSignals,
    Outcome,
    PolicyConfig,
    ReasonCode,
    TerminalKind,
    decide,
    mismatch_lock_until,
    terminal_flagged,
    velocity_exceeded,
)
from bhytgate.policy.collect import collect_fraud_signals, record_outcome
from bhytgate.policy.retry import RetryHint
from bhytgate.policy.retry import hint as retry_hint
from bhytgate.storage import ChallengeProblem, SqliteStore

NOW = dt.datetime(2025, 3, 3, 7, 30, tzinfo=dt.UTC)
POLICY = PolicyConfig()
MATCH = FaceMatch(distance=0.38, threshold=0.5, matched=True)

GOOD = CheckResults(
    document_source=DocumentSource.CHIP,
    chip_passive_ok=True,
    aa_ok=True,
    challenge_ok=True,
    document_expired=False,
    face_match=MATCH,
    liveness_ok=True,
    entitlement_usable=True,
    ma_ket_qua="000",
)
CLEAN = FraudSignals(
    now=NOW,
    reported_lost=False,
    facilities_in_window=frozenset(),
    current_facility="01001",
    terminal_recent={"ACCEPTED": 20, "REJECTED": 2},
)


def codes(
    checks: CheckResults = GOOD, fraud: FraudSignals = CLEAN, kind: TerminalKind = TerminalKind.KIOSK
) -> tuple[Outcome, list[str]]:
    d = decide(checks, fraud, kind, POLICY)
    return d.outcome, d.codes


def test_everything_good_is_accepted_at_highest_level() -> None:
    d = decide(GOOD, CLEAN, TerminalKind.KIOSK, POLICY)
    assert (d.outcome, d.reasons, d.assurance_level) == (
        Outcome.ACCEPTED,
        [],
        AssuranceLevel.CHIP_AA_FACE_LIVENESS,
    )


def test_default_checks_fail_closed() -> None:
    d = decide(CheckResults(), FraudSignals(now=NOW), TerminalKind.DESK, POLICY)
    assert d.outcome is Outcome.REJECTED and ReasonCode.CHECK_MISSING in d.codes


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"chip_passive_ok": False, "chip_failure_codes": ("SIGNER_REVOKED",)}, "SIGNER_REVOKED"),
        (
            {"chip_passive_ok": False, "chip_failure_codes": ("DATA_GROUP_HASH_MISMATCH",)},
            "DATA_GROUP_HASH_MISMATCH",
        ),
        ({"chip_passive_ok": False}, "CHIP_SIGNATURE_INVALID"),
        (
            {"chip_passive_ok": True, "chip_failure_codes": ("SIGNER_EXPIRED",)},
            "SIGNER_EXPIRED",
        ),  # inconsistent
        ({"chip_passive_ok": False, "chip_failure_codes": ("WHATEVER",)}, "CHIP_SIGNATURE_INVALID"),
        ({"aa_ok": False}, "CHIP_NOT_GENUINE"),
        ({"challenge_ok": False, "challenge_problem": ChallengeProblem.REPLAYED}, "CHALLENGE_REPLAYED"),
        ({"challenge_ok": False, "challenge_problem": ChallengeProblem.EXPIRED}, "CHALLENGE_EXPIRED"),
        ({"challenge_ok": False, "challenge_problem": ChallengeProblem.UNKNOWN}, "CHALLENGE_UNKNOWN"),
        ({"challenge_problem": ChallengeProblem.TERMINAL_MISMATCH}, "CHALLENGE_TERMINAL_MISMATCH"),
        ({"challenge_ok": True, "challenge_problem": "bogus"}, "CHALLENGE_UNKNOWN"),
        ({"challenge_ok": None}, "CHECK_MISSING"),
        ({"document_expired": True}, "DOCUMENT_EXPIRED"),
        ({"face_match": FaceMatch(0.61, 0.5, False)}, "FACE_MISMATCH"),
        ({"face_match": FaceMatch(0.61, 0.5, True)}, "FACE_MISMATCH"),  # flag disagrees with numbers
        ({"template_match": FaceMatch(0.7, 0.5, False)}, "TEMPLATE_MISMATCH"),
        ({"liveness_ok": False, "liveness_failure": "head did not turn"}, "LIVENESS_FAILED"),
        ({"liveness_ok": None}, "LIVENESS_FAILED"),  # required at a kiosk
        ({"entitlement_usable": False, "ma_ket_qua": "110"}, "CARD_REVOKED"),
        ({"entitlement_usable": False, "ma_ket_qua": "010"}, "CARD_EXPIRED"),
        ({"entitlement_usable": False, "ma_ket_qua": "050"}, "NO_ENTITLEMENT"),
        ({"entitlement_usable": True, "ma_ket_qua": "050"}, "NO_ENTITLEMENT"),  # inconsistent
        ({"entitlement_usable": True, "ma_ket_qua": None}, "NO_ENTITLEMENT"),
    ],
)
def test_single_failure_rejects_with_its_code(change: dict[str, object], code: str) -> None:
    outcome, got = codes(dataclasses.replace(GOOD, **change))  # type: ignore[arg-type]
    assert outcome is Outcome.REJECTED and code in got


@pytest.mark.parametrize(
    ("failure", "code"),
    [("NO_FACE", "NO_FACE"), ("MULTIPLE_FACES", "MULTIPLE_FACES"), ("??", "POOR_FACE_QUALITY")],
)
def test_a_poor_live_capture_is_a_retry_with_a_hint(failure: str, code: str) -> None:
    checks = dataclasses.replace(GOOD, face_failure_code=failure, face_match=None)
    decision = decide(checks, CLEAN, TerminalKind.KIOSK, POLICY)
    assert decision.outcome is Outcome.RETRY and decision.codes == [code]
    assert retry_hint(decision.reasons) is RetryHint.FACE_THE_CAMERA
    # the chip photo without a usable face: a retry cannot help
    on_chip = dataclasses.replace(checks, face_failure_on_chip=True)
    assert decide(on_chip, CLEAN, TerminalKind.KIOSK, POLICY).outcome is Outcome.REJECTED
    # evidence beside the poor capture still rejects
    with_evidence = dataclasses.replace(checks, aa_ok=False)
    assert decide(with_evidence, CLEAN, TerminalKind.KIOSK, POLICY).outcome is Outcome.REJECTED


def test_retries_are_on_neither_side_of_the_terminal_rejection_rate() -> None:
    policy = PolicyConfig(terminal_min_rejections=3)
    assert terminal_flagged({"REJECTED": 3, "ACCEPTED": 1, "RETRY": 40}, policy)
    assert not terminal_flagged({"RETRY": 40, "ACCEPTED": 1}, policy)


def test_failed_liveness_is_the_reason_not_a_missing_match() -> None:
    # The worker stops at the failed challenge, before any match: seen under load as a genuine
    # holder's rejection whose first reason read INTERNAL_CHECK_UNAVAILABLE.
    failed = dataclasses.replace(GOOD, face_match=None, liveness_ok=False, liveness_failure="no turn")
    assert codes(failed) == (Outcome.REJECTED, ["LIVENESS_FAILED"])
    # Without a liveness verdict a missing match still fails closed.
    assert codes(dataclasses.replace(GOOD, face_match=None))[1][0] == "CHECK_MISSING"


def test_usable_result_codes_accepted() -> None:
    for code in ("001", "002", "003", "004"):
        assert codes(dataclasses.replace(GOOD, ma_ket_qua=code))[0] is Outcome.ACCEPTED


def test_lost_document_rejected() -> None:
    assert codes(fraud=dataclasses.replace(CLEAN, reported_lost=True)) == (
        Outcome.REJECTED,
        ["DOCUMENT_REPORTED_LOST"],
    )


def test_biometric_lock() -> None:
    locked = dataclasses.replace(CLEAN, biometric_locked_until=NOW + dt.timedelta(hours=1))
    assert codes(fraud=locked) == (Outcome.REJECTED, ["FRAUD_BIOMETRIC_LOCKED"])
    expired = dataclasses.replace(CLEAN, biometric_locked_until=NOW - dt.timedelta(seconds=1))
    assert codes(fraud=expired)[0] is Outcome.ACCEPTED


def test_second_facility_in_window_is_review() -> None:
    same = dataclasses.replace(CLEAN, facilities_in_window=frozenset({"01001"}))
    assert codes(fraud=same)[0] is Outcome.ACCEPTED
    other = dataclasses.replace(CLEAN, facilities_in_window=frozenset({"79014"}))
    assert codes(fraud=other) == (Outcome.REVIEW, ["FRAUD_VELOCITY"])


def test_flagged_terminal_is_review_and_rejection_dominates() -> None:
    flagged = dataclasses.replace(CLEAN, terminal_recent={"ACCEPTED": 5, "REJECTED": 15})
    assert codes(fraud=flagged) == (Outcome.REVIEW, ["FRAUD_TERMINAL_FLAGGED"])
    outcome, got = codes(dataclasses.replace(GOOD, aa_ok=False), flagged)
    assert outcome is Outcome.REJECTED and got == ["CHIP_NOT_GENUINE", "FRAUD_TERMINAL_FLAGGED"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reported_lost", None),
        ("facilities_in_window", None),
        ("terminal_recent", None),
        ("current_facility", ""),
    ],
)
def test_missing_fraud_signal_fails_closed(field: str, value: object) -> None:
    outcome, got = codes(fraud=dataclasses.replace(CLEAN, **{field: value}))  # type: ignore[arg-type]
    assert outcome is Outcome.REJECTED and got == ["CHECK_MISSING"]


def test_chip_without_aa_is_chip_face() -> None:
    no_aa = dataclasses.replace(GOOD, aa_ok=None)
    d = decide(no_aa, CLEAN, TerminalKind.KIOSK, POLICY)
    assert d.outcome is Outcome.REJECTED and d.codes == ["ASSURANCE_TOO_LOW", "AA_MISSING"]
    assert d.assurance_level is AssuranceLevel.CHIP_FACE
    lenient = PolicyConfig(min_assurance={TerminalKind.KIOSK: AssuranceLevel.CHIP_FACE})
    assert decide(no_aa, CLEAN, TerminalKind.KIOSK, lenient).outcome is Outcome.ACCEPTED


def test_desk_single_frame_needs_named_operator() -> None:
    single = dataclasses.replace(GOOD, liveness_ok=None, aa_ok=None)
    assert codes(single, kind=TerminalKind.DESK) == (Outcome.REJECTED, ["OPERATOR_REQUIRED"])
    assert codes(dataclasses.replace(single, operator="  "), kind=TerminalKind.DESK)[1] == [
        "OPERATOR_REQUIRED"
    ]
    d = decide(dataclasses.replace(single, operator="Trần Thị B"), CLEAN, TerminalKind.DESK, POLICY)
    assert (d.outcome, d.assurance_level) == (Outcome.ACCEPTED, AssuranceLevel.CHIP_FACE)
    # the same capture at a phone is not enough
    assert "LIVENESS_FAILED" in codes(dataclasses.replace(single, operator="X"), kind=TerminalKind.PHONE)[1]


def test_liveness_failure_rejects_even_at_desk() -> None:
    bad = dataclasses.replace(GOOD, liveness_ok=False, operator="X")
    assert codes(bad, kind=TerminalKind.DESK) == (Outcome.REJECTED, ["LIVENESS_FAILED"])


def test_qr_path() -> None:
    qr = CheckResults(
        document_source=DocumentSource.QR,
        challenge_ok=True,
        document_expired=False,
        template_match=MATCH,
        liveness_ok=True,
        entitlement_usable=True,
        ma_ket_qua="000",
    )
    d = decide(qr, CLEAN, TerminalKind.DESK, POLICY)
    assert (d.outcome, d.assurance_level) == (Outcome.ACCEPTED, AssuranceLevel.QR_ENROLLED_FACE)
    assert codes(qr, kind=TerminalKind.KIOSK) == (Outcome.REJECTED, ["ASSURANCE_TOO_LOW"])
    no_template = dataclasses.replace(qr, template_match=None)
    assert codes(no_template, kind=TerminalKind.DESK) == (Outcome.REJECTED, ["ASSURANCE_TOO_LOW"])
    # chip results cannot lift a QR check
    assert (
        decide(
            dataclasses.replace(qr, chip_passive_ok=True, aa_ok=True), CLEAN, TerminalKind.DESK, POLICY
        ).assurance_level
        is AssuranceLevel.QR_ENROLLED_FACE
    )


def test_unknown_terminal_kind_rejected() -> None:
    d = decide(GOOD, CLEAN, "drone", POLICY)  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED


def test_terminal_kind_missing_from_policy_requires_highest() -> None:
    policy = PolicyConfig(min_assurance={}, liveness_required={})
    assert decide(GOOD, CLEAN, TerminalKind.DESK, policy).outcome is Outcome.ACCEPTED
    assert (
        decide(dataclasses.replace(GOOD, aa_ok=None), CLEAN, TerminalKind.DESK, policy).outcome
        is Outcome.REJECTED
    )


def test_rule_helpers() -> None:
    assert not velocity_exceeded(set(), "01001", POLICY)
    assert not velocity_exceeded({"01001"}, "01001", POLICY)
    assert velocity_exceeded({"01001"}, "01002", POLICY)
    assert velocity_exceeded({"01001", "01002"}, "01002", PolicyConfig(velocity_max_facilities=1))
    assert not velocity_exceeded({"01001", "01002"}, "01002", PolicyConfig(velocity_max_facilities=2))
    assert mismatch_lock_until(2, NOW, POLICY) is None
    assert mismatch_lock_until(3, NOW, POLICY) == NOW + dt.timedelta(hours=24)
    assert not terminal_flagged({"REJECTED": 9}, POLICY)  # below the minimum count
    assert terminal_flagged({"REJECTED": 10}, POLICY)
    assert not terminal_flagged({"REJECTED": 10, "ACCEPTED": 10}, POLICY)  # 50 % is not above 50 %
    assert not terminal_flagged({}, POLICY)


_OPTIONAL_FIELDS = [
    "document_source",
    "chip_passive_ok",
    "challenge_ok",
    "document_expired",
    "face_match",
    "liveness_ok",
    "entitlement_usable",
    "ma_ket_qua",
]


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.sampled_from(_OPTIONAL_FIELDS), min_size=1),
    st.sampled_from(list(TerminalKind)),
    st.booleans(),
)
def test_any_unknown_check_is_never_accepted(blank: set[str], kind: TerminalKind, operator: bool) -> None:
    checks = dataclasses.replace(GOOD, operator="op" if operator else None, **dict.fromkeys(blank))  # type: ignore[arg-type]
    outcome = decide(checks, CLEAN, kind, POLICY).outcome
    if blank == {"liveness_ok"} and kind is TerminalKind.DESK and operator:
        assert outcome is Outcome.ACCEPTED  # the one sanctioned gap: single frame under a named operator
    else:
        assert outcome is not Outcome.ACCEPTED


# -- store glue --------------------------------------------------------------------------------------


def test_velocity_and_mismatch_lock_through_the_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "p.db", template_key=b"\x00" * 32)
    try:

        def run(facility: str, at: dt.datetime, checks: CheckResults = GOOD) -> tuple[Outcome, list[str]]:
            sig = collect_fraud_signals(
                store,
                document_key="doc",
                facility=facility,
                terminal_id=f"t-{facility}",
                now=at,
                policy=POLICY,
            )
            d = decide(checks, sig, TerminalKind.KIOSK, POLICY)
            mismatch = "FACE_MISMATCH" in d.codes
            record_outcome(
                store,
                document_key="doc",
                facility=facility,
                terminal_id=f"t-{facility}",
                decision=d,
                face_mismatch=mismatch,
                now=at,
                policy=POLICY,
            )
            return d.outcome, d.codes

        assert run("01001", NOW)[0] is Outcome.ACCEPTED
        assert run("79014", NOW + dt.timedelta(hours=2)) == (Outcome.REVIEW, ["FRAUD_VELOCITY"])
        # both recorded: the first facility now also sees a second one within the window
        assert store.facilities_since("doc", NOW) == {"01001", "79014"}
        assert run("01001", NOW + dt.timedelta(hours=3))[0] is Outcome.REVIEW
        assert run("01001", NOW + dt.timedelta(hours=9))[0] is Outcome.ACCEPTED  # window passed

        bad_face = dataclasses.replace(GOOD, face_match=FaceMatch(0.7, 0.5, False))
        t = NOW + dt.timedelta(hours=10)
        for i in range(3):
            assert run("01001", t + dt.timedelta(minutes=i), bad_face)[1] == ["FACE_MISMATCH"]
        # the third mismatch locked biometric check-in, even for the genuine holder
        assert run("01001", t + dt.timedelta(minutes=5)) == (Outcome.REJECTED, ["FRAUD_BIOMETRIC_LOCKED"])
        assert run("01001", t + dt.timedelta(hours=25))[0] is Outcome.ACCEPTED
    finally:
        store.close()

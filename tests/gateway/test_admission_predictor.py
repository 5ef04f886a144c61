"""The completion predictor behind admission (service/admission.py): pure functions, no pool."""

from __future__ import annotations

import pytest

from bhytgate.service.admission import AdmissionPolicy, CostModel, ServiceRate, decide, predict_finish_ms


def test_predicted_finish_is_work_ahead_over_rate_plus_own_cost() -> None:
    assert predict_finish_ms(1000.0, 2.0, 100.0) == pytest.approx(600.0)
    assert predict_finish_ms(0.0, 2.0, 100.0) == pytest.approx(100.0)
    assert predict_finish_ms(-5.0, 2.0, 100.0) == pytest.approx(100.0)  # never negative work
    assert predict_finish_ms(1000.0, 0.0, 0.0) > 1e9  # no service: never finishes


def test_decide_uses_the_tighter_of_the_deadline_share_and_the_bound() -> None:
    policy = AdmissionPolicy(deadline_fraction=0.75, max_wait_s=1.0)
    long = decide(policy, work_ahead_ms=1700.0, rate=2.0, own_ms=100.0, deadline_s=8.0)
    assert (
        long.admit and long.budget_ms == pytest.approx(1000.0) and long.predicted_ms == pytest.approx(950.0)
    )
    over = decide(policy, work_ahead_ms=1900.0, rate=2.0, own_ms=100.0, deadline_s=8.0)
    assert not over.admit and "~1050 ms" in over.explain("single")
    short = decide(policy, work_ahead_ms=600.0, rate=2.0, own_ms=100.0, deadline_s=0.5)
    assert short.budget_ms == pytest.approx(375.0) and not short.admit  # 400 > 375
    assert decide(policy, work_ahead_ms=500.0, rate=2.0, own_ms=100.0, deadline_s=0.5).admit
    none = decide(policy, work_ahead_ms=1700.0, rate=2.0, own_ms=100.0, deadline_s=None)
    assert none.admit and none.budget_ms == pytest.approx(1000.0)  # no deadline: the bound alone
    assert not decide(policy, work_ahead_ms=0.0, rate=2.0, own_ms=1.0, deadline_s=-1.0).admit


def test_policy_values_are_checked() -> None:
    for bad in ({"deadline_fraction": 0.0}, {"deadline_fraction": 1.5}, {"max_wait_s": 0.0}):
        with pytest.raises(ValueError):
            AdmissionPolicy(**bad)  # type: ignore[arg-type]


def test_cost_model_expected_cost() -> None:
    costs = CostModel()
    assert costs.expected_ms("single", 250.0) == 250.0  # nothing measured: the default
    for _ in range(200):
        costs.learn("single", 40.0)
        costs.learn("burst", 120.0)
    assert costs.expected_ms("burst", 250.0) == pytest.approx(120.0, rel=0.05)
    assert costs.expected_ms("enrol", 250.0) == pytest.approx(80.0, rel=0.1)  # unknown kind: the mean
    costs.learn("single", float("nan"))
    costs.learn("single", -1.0)
    assert costs.expected_ms("single", 250.0) == pytest.approx(40.0, rel=0.05)


def _simulate(rate: ServiceRate, *, workers: int, job_ms: float, efficiency: float, seconds: float) -> None:
    """A saturated pool whose workers each retire a job of `job_ms` worker time every
    job_ms / efficiency wall ms (time lost between jobs)."""
    now, period = 0.0, job_ms / efficiency / workers
    rate.tick(now, workers)
    while now < seconds * 1000:
        now += period
        rate.completed(now, workers, job_ms)


def test_service_rate_is_the_measured_parallelism() -> None:
    rate = ServiceRate(2)
    assert rate.rate == 2.0  # unmeasured: every worker at full speed
    _simulate(rate, workers=2, job_ms=50.0, efficiency=0.5, seconds=30)
    assert rate.rate == pytest.approx(1.0, rel=0.05)  # half the time lost: one worker's worth
    _simulate(rate, workers=2, job_ms=50.0, efficiency=1.0, seconds=60)
    assert rate.rate == pytest.approx(2.0, rel=0.05)  # recovers as the machine frees up


def test_service_rate_ignores_idle_time_and_is_clamped() -> None:
    rate = ServiceRate(2)
    rate.tick(0.0, 1)
    rate.completed(60_000.0, 1, 50.0)  # a minute with one job: not saturated, not measured
    assert rate.rate == 2.0
    _simulate(rate, workers=2, job_ms=50.0, efficiency=0.05, seconds=30)
    assert rate.rate == pytest.approx(0.5)  # clamped at a quarter of the workers

"""Admission of face work by expected completion: admit a check when it can finish in time.

Why: a fixed bound on work in flight (workers + 3 average checks) shed 2% of calls at half of
capacity and 15% at 70%, while every caller's deadline (8 s at a hospital desk) was dozens of
average checks away. A check is admitted when its predicted finish, ``work ahead of it / measured
service rate + its own expected cost``, fits within a share of the caller's remaining deadline
(``deadline_fraction``, the margin), and never beyond ``max_wait_s`` (the bound on an accepted
check's latency under overload, and what a caller without a deadline gets). Beyond, the call is
refused at once (RESOURCE_EXHAUSTED), before it consumes its challenge.

- Expected cost: the moving average of worker time per kind of job (:class:`CostModel`); a kind
  never measured costs the overall mean, and ``default_job_ms`` before anything was measured.
- Service rate: worker-milliseconds of face work retired per wall-clock millisecond while every
  worker was busy (:class:`ServiceRate`), i.e. the pool's effective parallelism on this machine;
  ``workers`` until measured. Worker time already grows when other processes take the cores, and
  the rate falls when the pool loses time between jobs (pickling, the main process).

Overload mode (CoDel's "adaptive queue timeout", as Facebook's Folly/Wangle use it: a long queue
timeout normally, a short one once the queue has stood for an interval). Under a standing queue
(offered load above capacity) the deadline rule admits work up to ``max_wait_s``: every accepted
check then waits ~2 s (14x the floor at 150% load, issue 12), while a tight fixed bound sheds Poisson
bursts below capacity. So: when every face job that started during ``overload_interval_s`` waited
longer than ``overload_target_jobs`` average jobs for a worker and no worker was ever free, the
budget becomes at most ``overload_wait_jobs`` average jobs (:class:`StandingQueue`), until the pool
stays dry for an average job or that bound refuses nothing for two intervals (the load fits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    # The predicted finish must fit within this share of the caller's remaining deadline: the
    # prediction is a mean, and the rest of the check (chip, records) runs outside the workers.
    deadline_fraction: float = 0.75
    # No check is admitted whose predicted finish is later than this, whatever its deadline: the
    # bound on an accepted check's latency at any overload.
    max_wait_s: float = 2.0
    default_job_ms: float = 250.0  # before any job completed: a slow liveness burst on dlib-bin
    # Overload mode. A standing queue: for this long, every face job waited more than the target
    # for a worker and no worker was free. Until it is detected the long budget admits (at 150%
    # the queue grows by ~5 jobs in 0.5 s; 1 s fills queue_limit's 12), so a longer interval costs
    # the accepted p99 of an overload's first second. In benchmarks/admission_sim.py Poisson
    # bursts at 50% and 70% never stood 0.5 s; in the full bench (real checks) the mode still
    # entered at 70% with 0.5 s and shed 0.17% and 1.5% of that step in two runs: 1.0 s.
    overload_interval_s: float = 1.0
    # The wait, in average jobs, above which a job counts as queued (a job that found a free worker
    # still "waits" a few ms of pickling and pool bookkeeping). 0.25 let bursts at 50% enter in
    # admission_sim; in the full bench (real checks, 40 s steps, idle AMD VM, 2026-12-01) 0.5 with
    # overload_wait_jobs 4 still entered at 70% and shed 11 of 560 calls there (2%); 1.0 with 5
    # shed 1 of 603 (benchmarks/results/2026-12-01-python-svc-amd-blazeface*.md).
    overload_target_jobs: float = 1.0
    # In overload mode a check is admitted only if its predicted finish is within this many average
    # jobs (own cost included). Measured (admission_sim, 150%): checks admitted in the mode had a
    # p99 of 2.2x the mean check with 3 and 3.1x with 4; 3 ran the pool dry more often and shed
    # 2% at a 70% step after a false entry, 4 did not (but see overload_target_jobs: 5 in the
    # full bench, at an accepted p99 at 150% of 8.3x the floor against 7.3x with 4).
    overload_wait_jobs: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 < self.deadline_fraction <= 1.0:
            raise ValueError("deadline_fraction must be in (0, 1]")
        if not self.max_wait_s > 0 or not self.default_job_ms > 0:
            raise ValueError("max_wait_s and default_job_ms must be positive")
        if not self.overload_interval_s > 0 or not self.overload_target_jobs >= 0:
            raise ValueError("overload_interval_s must be positive and overload_target_jobs >= 0")
        if not self.overload_wait_jobs >= 1.0:
            raise ValueError("overload_wait_jobs must be at least 1 (a check's own cost)")


class CostModel:
    """Moving average of worker time per kind of job (ms); an unknown kind costs the overall mean."""

    ALPHA = 0.1
    MIN_UNITS = 0.25  # however cheap a kind looks, it counts as at least a quarter of an average job

    def __init__(self) -> None:
        self._by_kind: dict[str, float] = {}
        self._mean: float | None = None

    def learn(self, kind: str, millis: float) -> None:
        if not millis > 0 or not math.isfinite(millis):
            return
        old = self._by_kind.get(kind)
        self._by_kind[kind] = millis if old is None else old + self.ALPHA * (millis - old)
        self._mean = millis if self._mean is None else self._mean + self.ALPHA * (millis - self._mean)

    def estimate_ms(self, kind: str) -> float | None:
        """The kind's learned worker time, if any job of it has completed."""
        return self._by_kind.get(kind)

    @property
    def mean_ms(self) -> float | None:
        return self._mean

    def expected_ms(self, kind: str, default_ms: float) -> float:
        """What a job of `kind` is expected to take, floored at MIN_UNITS average jobs."""
        if self._mean is None:
            return default_ms
        return max(self.MIN_UNITS * self._mean, self._by_kind.get(kind, self._mean))

    def units(self, kind: str) -> float:
        """The kind's cost in average jobs (1.0 while nothing is known)."""
        if self._mean is None:
            return 1.0
        return self.expected_ms(kind, self._mean) / self._mean


class ServiceRate:
    """Worker-ms retired per wall-ms while every worker is busy: the pool's effective parallelism.

    Both sums decay with a time constant of ``TAU_MS`` of saturated time, so the rate follows the
    machine (another tenant taking a core) within seconds. A completion counts only if the pool was
    saturated when it ended; the rate is clamped to [MIN_SHARE x workers, workers]."""

    TAU_MS = 10_000.0
    MIN_BUSY_MS = 1_000.0  # saturated time needed before the measurement replaces `workers`
    MIN_SHARE = 0.25

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._retired_ms = 0.0
        self._busy_ms = 0.0
        self._last: float | None = None
        self._saturated = False

    def tick(self, now_ms: float, inflight: int) -> None:
        """Called on every change of the number of jobs in flight (before the change is applied
        and after it), and on each completion."""
        if self._last is not None and self._saturated and now_ms > self._last:
            dt = now_ms - self._last
            decay = math.exp(-dt / self.TAU_MS)
            self._busy_ms = self._busy_ms * decay + dt
            self._retired_ms *= decay
        self._last = now_ms
        self._saturated = inflight >= self.workers

    def completed(self, now_ms: float, inflight: int, worker_ms: float) -> None:
        self.tick(now_ms, inflight)
        if self._saturated and worker_ms > 0 and math.isfinite(worker_ms):
            self._retired_ms += worker_ms

    @property
    def rate(self) -> float:
        if self._busy_ms < self.MIN_BUSY_MS:
            return float(self.workers)
        measured = self._retired_ms / self._busy_ms
        return min(float(self.workers), max(self.MIN_SHARE * self.workers, measured))


class StandingQueue:
    """CoDel's test for a standing queue, on the face jobs' waits for a worker (pure, clock given).

    Entering: for `interval_ms`, every job reported waited longer than its target, and a worker was
    never free (`worker_free`: fewer admitted checks with face work left than workers); one job that
    waited no longer, or a free worker, starts the interval again. Waits are known when a job ends
    (wall time less worker time), so the test lags a job's duration: well within the interval.

    Leaving: when the pool has had no face work at all for `idle_ms` (`idle` .. `busy`: arrivals
    no longer keep it fed), or the short bound has refused nothing for QUIET_INTERVALS (`refused`:
    the load fits in it). Not at the first job that found a worker free, nor at the first moment
    the pool runs dry: the short bound keeps the queue short on purpose, so under overload the pool
    does run dry for a moment, and leaving then let the queue grow back to the long budget, over
    and over (benchmarks/admission_sim.py at 150%: an exit every 1-3 s, accepted p99 6x the floor
    instead of 3.5x)."""

    # Intervals without an overload refusal that end the mode: at 150% the short bound can go a
    # second without refusing (a lull in the arrivals), and leaving then costs a new entry.
    QUIET_INTERVALS = 4

    def __init__(self, interval_ms: float) -> None:
        if not interval_ms > 0:
            raise ValueError("interval_ms must be positive")
        self.interval_ms = interval_ms
        self._above_since: float | None = None  # since when every job waited beyond the target
        self._idle_since: float | None = None  # since when the pool has had no face work
        self._last_refusal = 0.0
        self._mode = False
        self.entered = 0  # times overload mode was entered

    def waited(self, now_ms: float, wait_ms: float, target_ms: float) -> None:
        """A face job ended at `now_ms` after waiting `wait_ms` for a worker."""
        if wait_ms > target_ms:
            if self._above_since is None:
                self._above_since = now_ms
        elif not self._mode:  # NaN too: no evidence of a queue
            self._above_since = None

    def worker_free(self, now_ms: float) -> None:
        """Fewer checks with face work left than workers: no standing queue (yet)."""
        if not self._mode:
            self._above_since = None

    def idle(self, now_ms: float) -> None:
        """No admitted check has face work left."""
        self._above_since = None
        if self._idle_since is None:
            self._idle_since = now_ms

    def busy(self, now_ms: float) -> None:
        """A check with face work was admitted."""
        self._idle_since = None

    def refused(self, now_ms: float) -> None:
        """The overload bound refused a check: the load still exceeds what it admits."""
        self._last_refusal = now_ms

    def overloaded(self, now_ms: float, idle_ms: float = 0.0) -> bool:
        """The mode at `now_ms`; `idle_ms`: how long the pool must have been dry to leave it."""
        if self._mode:
            dry = self._idle_since is not None and now_ms - self._idle_since >= idle_ms
            if dry or now_ms - self._last_refusal >= self.QUIET_INTERVALS * self.interval_ms:
                self._mode = False
                self._above_since = None
        elif self._above_since is not None and now_ms - self._above_since >= self.interval_ms:
            self._mode = True
            self._last_refusal = now_ms  # grace to show that it refuses
            self.entered += 1
        return self._mode

    @property
    def mode(self) -> bool:
        """The state at the last `overloaded()` (no clock needed)."""
        return self._mode


@dataclass(frozen=True, slots=True)
class Decision:
    admit: bool
    predicted_ms: float  # when the check's face work would end, from now
    budget_ms: float  # the latest admitted
    own_ms: float  # the check's own expected cost
    bound: str = "max_wait"  # which bound set the budget: "max_wait", "deadline" or "overload"

    def explain(self, kind: str) -> str:
        why = {
            "max_wait": "the latency bound (admission_max_wait_s)",
            "deadline": "the share of the caller's remaining deadline",
            "overload": "overload mode: a standing queue (admission_overload_wait_jobs)",
        }[self.bound]
        return (
            f"a {kind} check would finish its face work in ~{self.predicted_ms:.0f} ms; "
            f"admitted up to {self.budget_ms:.0f} ms by {why}"
        )


def predict_finish_ms(work_ahead_ms: float, rate: float, own_ms: float) -> float:
    """The work ahead drains at `rate` worker-ms per ms, then the check itself runs."""
    return max(0.0, work_ahead_ms) / max(1e-9, rate) + own_ms


def decide(
    policy: AdmissionPolicy,
    *,
    work_ahead_ms: float,
    rate: float,
    own_ms: float,
    deadline_s: float | None,
    overload_ms: float | None = None,
) -> Decision:
    """Pure: admit when the predicted finish fits the caller's deadline (with the margin) and the
    latency bound, and in overload mode (`overload_ms` given) the overload bound. A deadline
    already past admits nothing. The tightest bound names the refusal."""
    budget_ms, bound = policy.max_wait_s * 1000.0, "max_wait"
    if deadline_s is not None:
        share = max(0.0, deadline_s) * 1000.0 * policy.deadline_fraction
        if share < budget_ms:
            budget_ms, bound = share, "deadline"
    if overload_ms is not None and overload_ms < budget_ms:
        budget_ms, bound = overload_ms, "overload"
    predicted = predict_finish_ms(work_ahead_ms, rate, own_ms)
    return Decision(predicted <= budget_ms, predicted, budget_ms, own_ms, bound)

"""Whose turn a replica's one-at-a-time job is, fairly between facilities (pure, clock given).

Why: VerifyAuditChain runs one check at a time per replica and refuses a second at once (a queue
behind it held call slots). Refusing at once alone let one facility's admin, retrying in a loop,
take the turn again the instant it freed, and the fund's own check was refused over and over (two
attack runs, 2026-12-03). So a facility refused while the job ran is *waiting*: when the turn
frees, the waiting facilities take it in the order they were first refused, before any other
(the facility that just ran included). A waiting facility that stops asking is dropped after
`hold_s` without a request, so one that gave up does not block the turn for long.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Turn:
    granted: bool
    ahead: int  # waiting facilities that take the turn before this one (0 when granted)


class FairTurns:
    """Round-robin over the facilities refused while the job ran; first come when none waits."""

    def __init__(self, hold_s: float) -> None:
        if not hold_s > 0:
            raise ValueError("hold_s must be positive")
        self.hold_s = hold_s
        self._waiting: dict[str, float] = {}  # facility -> its last request (order: first refusal)
        self._running: str | None = None

    def _expire(self, now_s: float) -> None:
        for who in [w for w, seen in self._waiting.items() if now_s - seen > self.hold_s]:
            del self._waiting[who]

    def request(self, who: str, now_s: float) -> Turn:
        """`who` asks for the turn at `now_s`: granted (call `done` when the job ends), or refused
        and kept waiting in its place."""
        self._expire(now_s)
        if self._running is None:
            first = next(iter(self._waiting), None)
            if first is None or first == who:
                self._waiting.pop(who, None)
                self._running = who
                return Turn(True, 0)
        self._waiting[who] = now_s  # a facility already waiting keeps its place
        return Turn(False, list(self._waiting).index(who))

    def done(self, now_s: float) -> None:
        """The granted job ended; the waiting facilities' holds count from now."""
        self._running = None
        for who in self._waiting:
            self._waiting[who] = max(self._waiting[who], now_s)

    @property
    def running(self) -> str | None:
        return self._running

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(self._waiting)

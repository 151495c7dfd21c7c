"""A hard cap on judge calls: a token bucket (calls per second, with a burst) and a counter per UTC day.

:meth:`CallBudget.take` grants a call only when both allow it, so over any span of ``t`` seconds at most
``burst + per_second * t`` calls are granted, and at most ``per_day`` in one UTC day. The clock is injected,
so the bound is tested on simulated time.

>>> now = [0.0]
>>> budget = CallBudget(per_second=2.0, per_day=3, burst=2, clock=lambda: now[0])
>>> [budget.take() for _ in range(3)]
[True, True, False]
>>> now[0] = 1.0
>>> budget.take(), budget.take(), budget.spent_today
(True, False, 3)
>>> now[0] = 86_400.0   # the next UTC day
>>> budget.take()
True
"""

from __future__ import annotations

import time
from collections.abc import Callable

DAY = 86_400.0


class CallBudget:
    """Calls per second (token bucket of ``burst`` tokens) and per UTC day, never exceeded.

    Parameters
    ----------
    per_second
        Long-run calls per second (> 0).
    per_day
        Calls per UTC day at most (>= 0; 0 grants nothing).
    burst
        Calls that may be granted at once after a quiet spell (>= 1); defaults to ``max(1, per_second)``.
    clock
        Seconds since the epoch (injected in tests).
    """

    def __init__(
        self,
        *,
        per_second: float = 1.0,
        per_day: int = 10_000,
        burst: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not per_second > 0:
            raise ValueError(f"per_second must be > 0, got {per_second}")
        if per_day < 0:
            raise ValueError(f"per_day must be >= 0, got {per_day}")
        burst = max(1.0, per_second) if burst is None else burst
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.per_second = per_second
        self.per_day = per_day
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._day = int(self._last // DAY)
        self._spent = 0

    @property
    def spent_today(self) -> int:
        self._roll(self.clock())
        return self._spent

    def _roll(self, now: float) -> None:
        # A clock that steps back (NTP) refills nothing and never reopens a finished day.
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.per_second)
        self._last = max(self._last, now)
        day = int(self._last // DAY)
        if day > self._day:
            self._day, self._spent = day, 0

    def take(self) -> bool:
        """Spend one call if both limits allow it now."""
        self._roll(self.clock())
        if self._tokens < 1.0 or self._spent >= self.per_day:
            return False
        self._tokens -= 1.0
        self._spent += 1
        return True

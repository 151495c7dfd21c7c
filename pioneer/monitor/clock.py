"""A clock that ticks once per labelled trace, and the way back from its ticks to event time.

The clusters decay in ticks, so a half-life of 1,000 traces means the same at 1 request/s, at 1,000/s and in a
replay at any speed. Events still speak of event time: the clock keeps anchors (tick, event time) and maps a
tick back by interpolating between them. Anchors are thinned as they accumulate (every other old one dropped),
so the memory is bounded and recent times stay exact.

>>> clock = TraceClock()
>>> clock.advance([100.0, 101.0, 103.0])
[1, 2, 3]
>>> clock.advance([110.0])
[4]
>>> clock.to_time(3), clock.to_time(3.5), clock.to_time(99)
(103.0, 106.5, 110.0)
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

MAX_ANCHORS = 2048


class TraceClock:
    """Counts traces (``ticks_``) and remembers when they were served."""

    def __init__(self) -> None:
        self.ticks_ = 0
        self._ticks: list[float] = []
        self._times: list[float] = []

    def advance(self, times: Sequence[float]) -> list[int]:
        """One tick per trace, in order; returns their ticks."""
        start = self.ticks_
        ticks = list(range(start + 1, start + len(times) + 1))
        self.ticks_ += len(times)
        latest = self._times[-1] if self._times else -float("inf")
        for tick, t in zip(ticks, times):
            latest = max(latest, float(t))  # event time never runs backwards on this clock
            self._ticks.append(float(tick))
            self._times.append(latest)
        while len(self._ticks) > MAX_ANCHORS:
            half = len(self._ticks) // 2
            self._ticks = self._ticks[:half:2] + self._ticks[half:]
            self._times = self._times[:half:2] + self._times[half:]
        return ticks

    def to_time(self, tick: float) -> float:
        """Event time of ``tick`` (interpolated between anchors; clamped to the first and last)."""
        if not self._ticks:
            return 0.0
        i = bisect.bisect_left(self._ticks, tick)
        if i <= 0:
            return self._times[0]
        if i >= len(self._ticks):
            return self._times[-1]
        t0, t1 = self._ticks[i - 1], self._ticks[i]
        y0, y1 = self._times[i - 1], self._times[i]
        return y0 + (y1 - y0) * (tick - t0) / (t1 - t0)

    @property
    def latest_time_(self) -> float:
        return self._times[-1] if self._times else 0.0

    def state(self) -> dict:
        return {"ticks": self.ticks_, "anchors": [self._ticks, self._times]}

    @classmethod
    def from_state(cls, state: dict) -> TraceClock:
        clock = cls()
        clock.ticks_ = int(state["ticks"])
        clock._ticks, clock._times = [list(map(float, a)) for a in state["anchors"]]
        return clock

"""Live traffic for the demo: usual requests at a steady rate, and a blind spot that appears partway and grows.

>>> from pioneer.synthetic import BankingTask
>>> plan = DriftingTraffic(BankingTask(seed=0), rate=10.0, drift_at=5.0, ramp=10.0, max_share=0.5)
>>> first = plan.take(100)          # ten seconds of traffic
>>> [r.segment for r in first[:50]].count("blind_spot"), first[-1].at
(0, 9.9)
>>> round(plan.share(15.0), 2), round(plan.share(40.0), 2)
(0.5, 0.5)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pioneer.synthetic.intents import BankingTask
from pioneer.training.base import Example


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request of the plan: when to send it (seconds from the start), what, and which segment it is in."""

    at: float
    example: Example
    segment: str


class DriftingTraffic:
    """Requests at ``rate`` per second; from ``drift_at`` the blind spot's share grows linearly over ``ramp``
    seconds to ``max_share``, then stays there."""

    def __init__(
        self,
        task: BankingTask,
        *,
        rate: float = 8.0,
        drift_at: float = 30.0,
        ramp: float = 60.0,
        max_share: float = 0.35,
        seed: int = 0,
    ) -> None:
        if rate <= 0 or ramp <= 0 or not 0 < max_share < 1:
            raise ValueError("rate and ramp must be > 0 and max_share in (0, 1)")
        self.task, self.rate, self.drift_at, self.ramp, self.max_share = task, rate, drift_at, ramp, max_share
        self._rng = random.Random(seed)
        self._usual = iter(())
        self._blind = iter(())
        self._sent = 0
        self._batches = 0

    def share(self, at: float) -> float:
        """The blind spot's share of traffic at ``at`` seconds."""
        if at < self.drift_at:
            return 0.0
        return self.max_share * min(1.0, (at - self.drift_at) / self.ramp)

    def _next(self, blind: bool) -> Example:
        source = "_blind" if blind else "_usual"
        try:
            return next(getattr(self, source))
        except StopIteration:
            self._batches += 1
            fresh = (self.task.blind_spot if blind else self.task.usual)(500, stream=f"live{source}-{self._batches}")
            setattr(self, source, iter(fresh))
            return next(getattr(self, source))

    def take(self, n: int) -> list[PlannedRequest]:
        """The next ``n`` requests of the plan."""
        out = []
        for _ in range(n):
            at = round(self._sent / self.rate, 6)
            blind = self._rng.random() < self.share(at)
            out.append(PlannedRequest(at=at, example=self._next(blind), segment="blind_spot" if blind else "usual"))
            self._sent += 1
        return out

"""Exponential time decay in *event* time, applied lazily ("forward decay", Cormode et al., ICDE 2009).

Decaying every counter on every event costs O(clusters) per event. Instead each event adds
``2 ** ((t - t0) / half_life)`` to a stored counter, and a reader multiplies the stored value by
``2 ** (-(now - t0) / half_life)``. Every counter shares one landmark ``t0``, so the relative order of stored
values equals the order of decayed values (the lightest cluster is found without decaying anything). When the
stored scale grows too large, the owner rescales its counters and moves the landmark (``rebase``).

>>> clock = ForwardDecay(half_life=10.0)
>>> stored = clock.weight(0.0) + clock.weight(10.0)  # two events, ten seconds apart
>>> round(stored * clock.factor(10.0), 6)              # at t=10 the older one counts half
1.5
"""

from __future__ import annotations

import math

REBASE_EXPONENT = 30.0
"""Rebase once stored weights reach ``2 ** REBASE_EXPONENT`` (float64 keeps ~1e-7 relative precision there)."""


class ForwardDecay:
    """Weights and read-out factors of exponential decay with a movable landmark ``t0``."""

    __slots__ = ("half_life", "t0")

    def __init__(self, half_life: float, t0: float = 0.0) -> None:
        if not half_life > 0 or not math.isfinite(half_life):
            raise ValueError(f"half_life must be a positive number of seconds; got {half_life!r}")
        self.half_life = float(half_life)
        self.t0 = float(t0)

    def weight(self, t: float) -> float:
        """Stored weight of one event at time ``t``."""
        return 2.0 ** ((t - self.t0) / self.half_life)

    def factor(self, now: float) -> float:
        """Multiply a stored value by this to read its decayed value at ``now``."""
        return 2.0 ** (-(now - self.t0) / self.half_life)

    def needs_rebase(self, t: float) -> bool:
        return (t - self.t0) / self.half_life > REBASE_EXPONENT

    def rebase(self, t: float) -> float:
        """Move the landmark to ``t``; returns the factor every stored value must be multiplied by."""
        f = self.factor(t)
        self.t0 = float(t)
        return f

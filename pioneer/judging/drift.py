"""Drift without labels: where unlabelled traffic moves, the judge looks more often (and nothing retrains).

Each served request lands in a region (the sampler's stratum: its cluster, else its predicted label) with its
input embedding and, where the model reports one, its confidence. Per region the watch keeps a slow and a fast
exponentially weighted mean of both. Three signals raise an alarm for a region:

- **novel**: a region first seen after the watch has warmed up (a new cluster, a label never predicted);
- **input shift**: the fast mean embedding moved away from the slow one by more than chance allows: the squared
  distance, divided by what the region's own spread predicts for means of that many requests, above
  ``shift_threshold`` (near 1 without drift, whatever the embedding's dimension);
- **confidence drop**: the fast mean confidence below the slow one by more than ``confidence_z`` standard errors.

An alarm boosts the region's judge sampling rate ``factor`` times for its next ``boost_for`` requests; a region
already boosted raises no new alarm. It never asks for a retrain: only labels (the judge's, now more of them in the
region) can show that answers got worse. The thresholds were set on five CLINC150 domains
(``scripts/bench_drift.py --calibrate``) and are reported on the other five; the half-lives are round choices (a
region's last ~50 requests against its last ~2,000), not fitted.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> watch = DriftWatch(warmup=100, region_warmup=100)
>>> centre = rng.normal(size=16)
>>> alarms = [watch.observe("a", centre + rng.normal(size=16)) for _ in range(2000)]
>>> sum(a is not None for a in alarms), watch.boost("a")
(0, 1.0)
>>> moved = [watch.observe("a", centre + 3 + rng.normal(size=16)) for _ in range(200)]
>>> next(a.signal for a in moved if a is not None), watch.boost("a")
('input_shift', 4.0)
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from pioneer.base import ParamsMixin, check_number

SHIFT_THRESHOLD = 4.0
CONFIDENCE_Z = 4.0
"""The smallest of a grid (1.5/2.5, 2/3, 3/3.5, 4/4, 6/5) with no false alarm in 3 x 100,000 no-drift requests
on the calibration domains (2.67 and 0.33 per 100,000 at 3/3.5)."""
FAST_HALF_LIFE = 50.0
SLOW_HALF_LIFE = 2000.0


@dataclass(frozen=True, slots=True)
class DriftAlarm:
    """A region whose unlabelled traffic drifted."""

    region: Hashable
    signal: str
    """``novel``, ``input_shift`` or ``confidence_drop``."""
    statistic: float
    seen: int
    """Requests the watch had seen when it raised the alarm."""


class _Region:
    __slots__ = ("boosted_left", "conf_fast", "conf_slow", "conf_var", "fast", "n", "slow", "spread")

    def __init__(self) -> None:
        self.n = 0
        self.fast: np.ndarray | None = None
        self.slow: np.ndarray | None = None
        self.spread = 0.0
        self.conf_fast: float | None = None
        self.conf_slow: float | None = None
        self.conf_var = 0.0
        self.boosted_left = 0


class DriftWatch(ParamsMixin):
    """Per-region drift signals over unlabelled traffic. See the module docstring.

    Parameters
    ----------
    warmup
        Requests seen before a new region counts as novel.
    region_warmup
        Requests of a region before its shifts are tested.
    fast_half_life, slow_half_life
        Half-lives, in requests of the region, of the recent and the reference means.
    shift_threshold
        Input shift statistic (1 expected without drift) that raises an alarm.
    confidence_z
        Standard errors of confidence drop that raise an alarm.
    factor, boost_for
        Sampling-rate factor of an alarmed region, and for how many of its requests.
    max_regions
        Regions tracked at most (the least seen are forgotten beyond it).
    """

    def __init__(
        self,
        *,
        warmup: int = 5000,
        region_warmup: int = 200,
        fast_half_life: float = FAST_HALF_LIFE,
        slow_half_life: float = SLOW_HALF_LIFE,
        shift_threshold: float = SHIFT_THRESHOLD,
        confidence_z: float = CONFIDENCE_Z,
        factor: float = 4.0,
        boost_for: int = 500,
        max_regions: int = 10_000,
    ) -> None:
        check_number("warmup", warmup, 0, integer=True)
        check_number("region_warmup", region_warmup, 1, integer=True)
        check_number("fast_half_life", fast_half_life, 0, open_low=True)
        check_number("slow_half_life", slow_half_life, fast_half_life, open_low=True)
        check_number("shift_threshold", shift_threshold, 0, open_low=True)
        check_number("confidence_z", confidence_z, 0, open_low=True)
        check_number("factor", factor, 1)
        check_number("boost_for", boost_for, 1, integer=True)
        check_number("max_regions", max_regions, 1, integer=True)
        self.warmup = warmup
        self.region_warmup = region_warmup
        self.fast_half_life = fast_half_life
        self.slow_half_life = slow_half_life
        self.shift_threshold = shift_threshold
        self.confidence_z = confidence_z
        self.factor = factor
        self.boost_for = boost_for
        self.max_regions = max_regions
        self._a_fast = 1.0 - 0.5 ** (1.0 / fast_half_life)
        self._a_slow = 1.0 - 0.5 ** (1.0 / slow_half_life)
        self._regions: dict[Hashable, _Region] = {}
        self.seen = 0
        self.alarms: list[DriftAlarm] = []

    def boost(self, region: Hashable) -> float:
        """The sampling-rate factor of ``region`` now (1 unless it drifted lately)."""
        found = self._regions.get(region)
        return self.factor if found is not None and found.boosted_left > 0 else 1.0

    def observe(self, region: Hashable, vector: np.ndarray | None = None,
                confidence: float | None = None) -> DriftAlarm | None:
        """Count one request of ``region`` (its input embedding, its confidence, either may be None); the alarm
        it raises, if any."""
        self.seen += 1
        found = self._regions.get(region)
        alarm = None
        if found is None:
            found = self._regions[region] = _Region()
            if self.seen > self.warmup:
                alarm = DriftAlarm(region, "novel", 0.0, self.seen)
            self._forget()
        found.n += 1
        if vector is not None:
            shift = self._vector(found, np.asarray(vector, dtype=np.float64))
            if shift and alarm is None:
                alarm = DriftAlarm(region, "input_shift", shift, self.seen)
        if confidence is not None and math.isfinite(confidence):
            drop = self._confidence(found, float(confidence))
            if drop and alarm is None:
                alarm = DriftAlarm(region, "confidence_drop", drop, self.seen)
        if found.boosted_left > 0:
            found.boosted_left -= 1
            return None  # already looking closer: one alarm per episode
        if alarm is not None:
            found.boosted_left = self.boost_for
            self.alarms.append(alarm)
        return alarm

    def _rates(self, n: int) -> tuple[float, float, float]:
        """(fast step, slow step, variance of fast - slow per unit of data variance) after ``n`` requests.

        A region's first requests are plainly averaged (step 1/n) until the exponential step is larger, so the
        means start unbiased; the variance of an exponentially weighted mean is the data's times a / (2 - a),
        of a plain one the data's over n.
        """
        fast, slow = max(self._a_fast, 1.0 / n), max(self._a_slow, 1.0 / n)
        return fast, slow, fast / (2.0 - fast) + slow / (2.0 - slow)

    def _vector(self, region: _Region, x: np.ndarray) -> float:
        fast, slow, share = self._rates(region.n)
        if region.slow is None or region.fast is None:
            region.slow, region.fast = x.copy(), x.copy()
            return 0.0
        gap = x - region.slow
        region.spread += slow * (float(gap @ gap) - region.spread)
        region.slow += slow * gap
        region.fast += fast * (x - region.fast)
        if region.n < self.region_warmup or region.spread <= 0:
            return 0.0
        moved = region.fast - region.slow
        statistic = float(moved @ moved) / (region.spread * share)
        return statistic if statistic > self.shift_threshold else 0.0

    def _confidence(self, region: _Region, c: float) -> float:
        fast, slow, share = self._rates(region.n)
        if region.conf_slow is None or region.conf_fast is None:
            region.conf_slow = region.conf_fast = c
            return 0.0
        gap = c - region.conf_slow
        region.conf_var += slow * (gap * gap - region.conf_var)
        region.conf_slow += slow * gap
        region.conf_fast += fast * (c - region.conf_fast)
        if region.n < self.region_warmup or region.conf_var <= 0:
            return 0.0
        z = (region.conf_slow - region.conf_fast) / math.sqrt(region.conf_var * share)
        return z if z > self.confidence_z else 0.0

    def _forget(self) -> None:
        if len(self._regions) > self.max_regions:
            del self._regions[min(self._regions, key=lambda r: self._regions[r].n)]

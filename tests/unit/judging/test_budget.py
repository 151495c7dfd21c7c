"""The call budget is never exceeded: checked on simulated time (an injected clock), no sleeps."""

from __future__ import annotations

import bisect
import random

import pytest

from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging import CallBudget, StratifiedSampler
from pioneer.judging.budget import DAY


def _grants(per_second: float, per_day: int, burst: float, arrivals: list[float]) -> list[float]:
    now = [arrivals[0]]
    budget = CallBudget(per_second=per_second, per_day=per_day, burst=burst, clock=lambda: now[0])
    granted = []
    for t in arrivals:
        now[0] = t
        if budget.take():
            granted.append(t)
    return granted


@pytest.mark.parametrize("seed", range(5))
def test_no_window_and_no_day_ever_gets_more_than_the_budget(seed: int) -> None:
    rng = random.Random(seed)
    per_second, burst, per_day = rng.choice([0.5, 2.0, 7.0]), rng.choice([1.0, 3.0, 10.0]), rng.choice([50, 400, 5000])
    # Bursty traffic over three days: quiet spells, then floods far above the rate.
    arrivals, t = [], 1_700_000_000.0
    while t < 1_700_000_000.0 + 3 * DAY:
        t += rng.expovariate(50.0) if rng.random() < 0.7 else rng.expovariate(0.01)
        arrivals.append(t)
    granted = _grants(per_second, per_day, burst, arrivals)
    assert granted, "the budget granted nothing: the test would prove nothing"
    for i, start in enumerate(granted):  # any window [start, start + w] holds at most burst + rate * w calls
        for width in (0.0, 1.0, 10.0, 3600.0):
            inside = bisect.bisect_right(granted, start + width) - i
            assert inside <= burst + per_second * width + 1e-9, (start, width, inside)
    days: dict[int, int] = {}
    for g in granted:
        days[int(g // DAY)] = days.get(int(g // DAY), 0) + 1
    assert max(days.values()) <= per_day


def test_a_clock_stepping_back_grants_nothing_extra() -> None:
    now = [1000.0]
    budget = CallBudget(per_second=1.0, per_day=100, burst=1, clock=lambda: now[0])
    assert budget.take() and not budget.take()
    now[0] = 500.0  # NTP steps back: no refill
    assert not budget.take()
    now[0] = 1001.0
    assert budget.take()


def test_a_zero_day_budget_grants_nothing_and_bad_parameters_are_refused() -> None:
    assert _grants(10.0, 0, 5, [float(i) for i in range(100)]) == []
    for bad in ({"per_second": 0}, {"per_day": -1}, {"burst": 0.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CallBudget(**bad)


def test_the_sampler_never_calls_beyond_its_budget_and_reports_the_refusals() -> None:
    now = [0.0]
    sampler = StratifiedSampler(rate=1.0, budget=CallBudget(per_second=5.0, per_day=120, burst=5, clock=lambda: now[0]))
    picked = 0
    for i in range(10_000):
        now[0] = i * 0.01  # 100 logs/s for 100 s
        log = InferenceLog(event_id=f"e{i}", timestamp=now[0], request_id=f"r{i}", model=ModelRef(name="m", version="v"),
                           task="classification", input=Input(text="x"), prediction=Output(label=str(i % 7)), latency_ms=1)
        picked += sampler.offer(log)
    assert picked == 120  # the day's cap (reached after ~23 s at 5/s)
    assert 0 < sampler.refused_by_budget <= sampler.offered - picked

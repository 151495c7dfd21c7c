"""Drift without labels: constructed streams raise alarms where they drift and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from pioneer.errors import ConfigError
from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging import CallBudget, DriftWatch, StratifiedSampler

REGIONS = ("a", "b", "c", "d")


def _stream(watch: DriftWatch, n: int, rng: np.random.Generator, *, shifted: str | None = None,
            unsure: str | None = None) -> list:
    centres = {r: np.random.default_rng(i).normal(size=32) * 3 for i, r in enumerate(REGIONS)}
    alarms = []
    for _ in range(n):
        region = REGIONS[int(rng.integers(len(REGIONS)))]
        centre = centres[region] + (4.0 if region == shifted else 0.0)
        confidence = rng.beta(16, 4) if region != unsure else rng.beta(10, 10)
        alarm = watch.observe(region, centre + rng.normal(size=32), float(confidence))
        if alarm is not None:
            alarms.append(alarm)
    return alarms


def test_a_stationary_stream_raises_no_alarm() -> None:
    watch = DriftWatch(warmup=1000)
    assert _stream(watch, 40_000, np.random.default_rng(0)) == []
    assert all(watch.boost(r) == 1.0 for r in REGIONS)


@pytest.mark.parametrize(("kind", "signal"), [("shifted", "input_shift"), ("unsure", "confidence_drop")])
def test_a_drifting_region_is_boosted_alone_and_once_per_episode(kind: str, signal: str) -> None:
    watch = DriftWatch(warmup=1000, factor=5.0, boost_for=10_000)
    rng = np.random.default_rng(1)
    _stream(watch, 8000, rng)
    alarms = _stream(watch, 4000, rng, **{kind: "b"})
    assert [(a.region, a.signal) for a in alarms] == [("b", signal)]  # one alarm: boosted regions stay quiet
    assert watch.boost("b") == 5.0 and watch.boost("a") == 1.0


def test_a_boost_ends_after_its_requests() -> None:
    watch = DriftWatch(warmup=0, factor=3.0, boost_for=5)
    watch.observe("seen")
    assert watch.observe("new") is not None and watch.boost("new") == 3.0
    for _ in range(5):
        watch.observe("new")
    assert watch.boost("new") == 1.0


def test_a_region_new_after_the_warm_up_is_novel() -> None:
    watch = DriftWatch(warmup=10)
    assert [watch.observe(f"r{i % 3}") for i in range(10)] == [None] * 10
    alarm = watch.observe("late")
    assert alarm is not None and alarm.signal == "novel" and alarm.seen == 11


def _log(i: int, label: str) -> InferenceLog:
    return InferenceLog(event_id=f"e{i}", timestamp=0, request_id=f"r{i}", model=ModelRef(name="m", version="v"),
                        task="classification", input=Input(text="t"), prediction=Output(label=label), latency_ms=1)


def test_the_sampler_judges_a_boosted_stratum_more_within_the_same_budget() -> None:
    boosted = {("m", "b")}
    budget = CallBudget(per_second=1e9, per_day=300, clock=lambda: 0.0)
    sampler = StratifiedSampler(rate=0.05, budget=budget, boost=lambda s: 4.0 if s in boosted else 1.0)
    picked = [(label, sampler.offer(_log(i, label))) for i, label in enumerate(["a", "b"] * 5000)]
    a = sum(p for label, p in picked if label == "a")
    b = sum(p for label, p in picked if label == "b")
    assert b > 2.5 * a
    assert a + b == 300 and sampler.refused_by_budget > 0  # the budget still caps the calls


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="slow_half_life"):
        DriftWatch(fast_half_life=100, slow_half_life=50)
    with pytest.raises(ConfigError, match="factor"):
        DriftWatch(factor=0.5)
    assert DriftWatch(factor=2.0).clone().factor == 2.0


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"embedding": [0.5, -1.0, 2]}, [0.5, -1.0, 2.0]),
    ({"embedding": [0.5, "x"]}, None), ({"embedding": [True, 1.0]}, None), ({"embedding": [float("nan")]}, None),
    ({"embedding": []}, None), ({"embedding": [0.0] * 5000}, None), ({"embedding": "0.5"}, None), (None, None),
])
def test_the_worker_reads_only_well_formed_embeddings(metadata: dict | None, expected: list | None) -> None:
    from streams.judge.worker import embedding_of

    log = _log(0, "a")
    log.metadata = metadata
    found = embedding_of(log)
    assert (found is None) if expected is None else found.tolist() == expected


def test_the_worker_reads_the_confidence_of_the_model_s_own_answer() -> None:
    from streams.judge.worker import confidence_of

    log = _log(0, "a")
    assert confidence_of(log) is None
    log.prediction = Output(label="a", scores={"a": 0.7, "b": 0.2})
    assert confidence_of(log) == 0.7
    log.prediction = Output(label="a", scores={"a": 7.0})
    assert confidence_of(log) is None

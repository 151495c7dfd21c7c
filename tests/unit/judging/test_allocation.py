"""The judge's calls follow its verdicts: a stratum whose answers fail gets the calls (Neyman allocation), one
whose answers pass keeps a share, a new one is explored first, and the budget still caps the total."""

from __future__ import annotations

from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging import CallBudget, StratifiedSampler


def _log(i: int, label: str) -> InferenceLog:
    return InferenceLog(event_id=f"e{i}", timestamp=0, request_id=f"r{i}", model=ModelRef(name="m", version="v"),
                        task="classification", input=Input(text="hi"), prediction=Output(label=label), latency_ms=1)


def _calls(feedback: bool, n: int = 8000) -> dict[str, int]:
    """Eight equally busy strata; answers in "balance" fail 60% of the time, elsewhere 1%. Calls per stratum."""
    sampler = StratifiedSampler(rate=0.1, budget=CallBudget(per_second=1e9, per_day=10**9, clock=lambda: 0.0))
    labels = [f"l{k}" for k in range(7)] + ["balance"]
    calls = dict.fromkeys(labels, 0)
    for i in range(n):
        log = _log(i, labels[i % 8])
        if sampler.offer(log):
            calls[log.prediction.label] += 1
            if feedback:
                failed = (i * 7919) % 100 < (60 if log.prediction.label == "balance" else 1)
                sampler.record(sampler.key(log), failed=failed)
    return calls


def test_calls_move_to_the_stratum_whose_answers_fail_and_the_others_keep_a_share() -> None:
    blind, informed = _calls(feedback=False), _calls(feedback=True)
    others = [v for k, v in informed.items() if k != "balance"]
    mean_blind = sum(v for k, v in blind.items() if k != "balance") / 7
    assert 0.7 < blind["balance"] / mean_blind < 1.3  # without verdicts: equal calls per stratum
    assert informed["balance"] > 2 * max(others)  # verdicts: the failing stratum is judged far more (Neyman: ~3.4x)
    assert min(others) >= 10  # the passing strata are still watched
    # the calls are moved, not added: rate x traffic in expectation either way (800 here)
    assert abs(sum(informed.values()) - sum(blind.values())) < 0.1 * sum(blind.values())


def test_a_forgotten_stratum_takes_its_weight_along() -> None:
    sampler = StratifiedSampler(rate=0.5, max_strata=2, budget=CallBudget(per_second=1e9, per_day=10**9))
    for i, label in enumerate(["a", "a", "b", "c", "c", "c"]):
        log = _log(i, label)
        sampler.offer(log)
        sampler.record(sampler.key(log), failed=label == "a")
    assert set(sampler._weights) == set(sampler._counts) and len(sampler._counts) == 2
    assert abs(sampler._weight_sum - sum(sampler._weights.values())) < 1e-9

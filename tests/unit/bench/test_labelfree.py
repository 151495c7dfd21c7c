"""The label-free scenario: its logs, its judge and the budget, on the real generator and checker (no training:
the served answers are written here as a model that never saw a subtraction would write them)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pioneer.bench import SCENARIOS, AdaptFTRunner
from pioneer.bench.judged import JudgeLabeller
from pioneer.events import Output
from pioneer.metrics import last_number


def _labelfree(tmp_path: Path):
    scenario = SCENARIOS["arithmetic-labelfree"]
    runner = AdaptFTRunner(datasets=tmp_path, workdir=tmp_path / "work", quick=True)
    return scenario, runner, runner.generate(scenario)


def _as_addition(target: str) -> Output:
    """What a model that only ever saw additions answers: the same numbers, added."""
    left, _, _ = target.partition("=")
    a, _, b = left.split()
    return Output(text=f"{a} + {b} = {int(a) + int(b)}")


def test_the_blind_spot_is_planted_and_no_poison_exists(tmp_path: Path) -> None:
    scenario, runner, logs = _labelfree(tmp_path)
    base = runner._source.base_sets()
    assert all(" + " in e.target for e in [*base.train, *base.validation, *base.gate])
    traffic = [entry for stage in logs.stages for entry in (*stage.train, *stage.test)]
    assert any(" - " in entry.example.target for entry in traffic)  # the traffic asks what the base never saw
    assert all(entry.kind in ("clean", "number_distractor", "paraphrase_drift") for entry in traffic)
    assert scenario.labels == "judge" and scenario.judge_calls[0] < len(logs.stages[0].train)


@pytest.mark.parametrize("calls", [0, 5, 12])
def test_only_judge_labels_reach_the_trainer_within_the_budget(tmp_path: Path, calls: int) -> None:
    scenario, runner, logs = _labelfree(tmp_path)
    labeller = JudgeLabeller(scenario.checker(runner._source), calls=calls, seed=0)
    for stage in logs.stages:
        served = [_as_addition(entry.example.target) for entry in stage.train]
        traces = labeller.label(stage.train, served, stage=stage.index, model="m", version="v",
                                task="generation", at=1000.0 * (stage.index + 1))
        tally = labeller.tallies[-1]
        assert len(traces) <= tally.calls <= calls  # the per-stage budget is never exceeded
        assert {t.source for t in traces} <= {"judge"}
        by_id = {entry.example.id: entry for entry in stage.train}
        for trace in traces:
            truth = by_id[trace.request_id].example.target
            right = last_number(trace.prediction.text) == last_number(truth)
            assert trace.outcome == ("pass" if right else "fail")
            # A failure trains on the checker's recomputed answer, which is the truth here (no typo hides it).
            if trace.outcome == "fail":
                assert trace.expected is not None and last_number(trace.expected.text) == last_number(truth)
            else:
                assert trace.expected is None
        assert tally.verdicts_right == tally.verdicts and tally.corrections_right == tally.corrections
    if calls:
        assert any(t.calls == calls for t in labeller.tallies)
        assert sum(t.corrections for t in labeller.tallies) > 0  # the subtractions were caught and corrected
    else:
        assert all(t.calls == 0 for t in labeller.tallies)


def test_a_judge_that_cannot_read_the_question_labels_nothing(tmp_path: Path) -> None:
    scenario, runner, logs = _labelfree(tmp_path)
    stage = logs.stages[0]
    garbled = [replace(entry, example=replace(entry.example, text="What is love?")) for entry in stage.train]
    labeller = JudgeLabeller(scenario.checker(runner._source), calls=6)
    traces = labeller.label(garbled, [Output(text="1 + 1 = 2")] * len(garbled), stage=0, model="m", version="v",
                            task="generation", at=1.0)
    assert traces == [] and labeller.tallies[-1].no_verdict == labeller.tallies[-1].calls == 6
    assert labeller.tallies[-1].errors == {"unjudgeable": 6}


class _AdditionsOnly:
    """Answers every problem as an addition of its two numbers (what the base model of the scenario learns)."""

    def __init__(self, logs) -> None:
        self._targets = {entry.example.text: entry.example.target for stage in logs.stages for entry in stage.train}

    def predict(self, texts):
        return [_as_addition(self._targets[t]) for t in texts]


def test_the_runner_serves_a_label_free_stage_through_the_judge_only(tmp_path: Path) -> None:
    from pioneer.bench.runner import _Chain
    from pioneer.registry import FileRegistry
    from pioneer.traces import TraceStore
    from pioneer.training.base import Evaluation

    scenario, runner, logs = _labelfree(tmp_path)
    labeller = runner._labeller(scenario, scenario.config(True))
    assert labeller is not None and labeller.calls == scenario.judge_calls[0]
    chain = _Chain("pioneer", FileRegistry(tmp_path / "reg"), TraceStore(tmp_path / "t.sqlite"), _AdditionsOnly(logs),
                   "v0", Evaluation(metric_name="exact_match", metric=0.0, ids=[], correct=[], predictions=[]), labeller)
    stage = logs.stages[0]
    traces = runner._serve(chain, stage, scenario.name, scenario.task)
    assert 0 < len(traces) <= scenario.judge_calls[0] < len(stage.train)
    assert all(t.source == "judge" and t.label_event_id.startswith("jl-") for t in traces)
    # Failures carry the checker's correction, recomputed from the question's text.
    failed = [t for t in traces if t.outcome == "fail"]
    task = runner._source.generator
    assert failed and all(t.expected == Output(text=task.correction(t.input.text)) for t in failed)
    chain.store.close()

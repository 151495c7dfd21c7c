"""Label-free stages: a judge, not the feedback, labels what production served.

In a label-free scenario no human label reaches the trainer. Each stage's served logs are offered to a
:class:`~pioneer.judging.StratifiedSampler` under a :class:`~pioneer.judging.CallBudget` of ``calls`` per stage
(a stage is one simulated UTC day, so the budget is the per-day cap of ``pioneer judge``); the sampled ones go
to the judge, and each verdict becomes a label (:func:`~pioneer.judging.judge_label`) joined with its log by the
monitor's own join (:func:`pioneer.join.trace.labeled_trace`). Nothing else is labelled. The hidden truth
(each log's true output) is read only to score the judge: did its verdict match whether the answer was right,
and was its correction right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pioneer.bench.logs import SyntheticLog
from pioneer.events import InferenceLog, Input, LabeledTrace, ModelRef, Output
from pioneer.join.outcome import judge as assess_output
from pioneer.join.trace import labeled_trace
from pioneer.judging import (
    CallBudget,
    Judge,
    JudgeError,
    StratifiedSampler,
    judge_label,
)
from pioneer.judging.budget import DAY
from pioneer.metrics import check_answer


@dataclass(slots=True)
class JudgeTally:
    """What the judge did in one stage for one method, scored against the hidden truth."""

    served: int = 0
    calls: int = 0
    refused_by_budget: int = 0
    no_verdict: int = 0
    """Calls that gave no verdict (unjudgeable, or a judge fault): no label."""
    verdicts_right: int = 0
    corrections: int = 0
    corrections_right: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def verdicts(self) -> int:
        return self.calls - self.no_verdict

    def to_dict(self) -> dict[str, object]:
        return {
            "served": self.served, "calls": self.calls, "refused_by_budget": self.refused_by_budget,
            "no_verdict": self.no_verdict, "verdicts": self.verdicts, "verdicts_right": self.verdicts_right,
            "corrections": self.corrections, "corrections_right": self.corrections_right, "errors": self.errors,
        }


class JudgeLabeller:
    """Labels served logs with a judge's verdicts within a per-stage call budget (see the module docstring).

    Parameters
    ----------
    judge
        The judge (for arithmetic, the task's numeric checker over its solver).
    calls
        Judge calls per stage at most (a stage is one day of the budget).
    rate
        Share of traffic the sampler asks for before the budget (None: 1.5 x the budget's share of the stage,
        so the budget, not the draw, decides how many are judged).
    seed
        Seed of the sampler's per-request draw.
    answer_checker
        How the hidden truth scores a generated answer (the held-out metric's checker, e.g. ``numeric``).
    """

    def __init__(self, judge: Judge, *, calls: int, rate: float | None = None, seed: int = 0,
                 answer_checker: str = "numeric") -> None:
        if calls < 0:
            raise ValueError(f"calls must be >= 0, got {calls}")
        self.judge = judge
        self.calls = calls
        self.rate = rate
        self.seed = seed
        self.answer_checker = answer_checker
        self.tallies: list[JudgeTally] = []

    def __repr__(self) -> str:
        return f"JudgeLabeller(judge={self.judge!r}, calls={self.calls}, seed={self.seed})"

    def label(self, logs: Sequence[SyntheticLog], predictions: Sequence[Output], *, stage: int, model: str,
              version: str, task: str, at: float) -> list[LabeledTrace]:
        """The traces of the judged logs of one stage (the others stay unlabelled)."""
        day = float(stage) * DAY
        budget = CallBudget(per_second=1e9, per_day=self.calls, burst=1e9, clock=lambda: day)
        rate = self.rate or min(1.0, 1.5 * self.calls / max(1, len(logs))) or 1.0
        sampler = StratifiedSampler(rate=rate, seed=self.seed, budget=budget)
        tally = JudgeTally(served=len(logs))
        traces = []
        for i, (entry, prediction) in enumerate(zip(logs, predictions, strict=True)):
            served = _log(entry, prediction, model=model, version=version, task=task, at=at + i)
            if not sampler.offer(served):
                continue
            tally.calls += 1
            try:
                verdict = self.judge.judge(served)
            except JudgeError as exc:
                tally.no_verdict += 1
                tally.errors[exc.kind] = tally.errors.get(exc.kind, 0) + 1
                continue
            sampler.record(sampler.key(served), failed=not verdict.passed)  # as the judge worker does
            tally.verdicts_right += verdict.passed == self._right(task, prediction, entry)
            if verdict.correction is not None:
                tally.corrections += 1
                tally.corrections_right += self._right(task, verdict.correction, entry)
            traces.append(labeled_trace(served, judge_label(served, verdict, at + i), at + i))
        tally.refused_by_budget = sampler.refused_by_budget
        self.tallies.append(tally)
        return traces

    def _right(self, task: str, output: Output, entry: SyntheticLog) -> bool:
        """Whether ``output`` is right by the hidden truth (the held-out metric's rule)."""
        if task == "generation":
            return check_answer(self.answer_checker, output.text, entry.example.target)
        return assess_output(task, output, entry.example.expected(), text=entry.example.text) is None


def _log(entry: SyntheticLog, prediction: Output, *, model: str, version: str, task: str, at: float) -> InferenceLog:
    example = entry.example
    return InferenceLog(
        event_id=f"log-{example.id}", timestamp=at, request_id=example.id, model=ModelRef(name=model, version=version),
        task=task,  # type: ignore[arg-type]
        input=Input(text=example.text, system_prompt=example.system_prompt), prediction=prediction, latency_ms=0.0,
    )

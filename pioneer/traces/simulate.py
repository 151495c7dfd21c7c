"""Labelled traces from labelled examples: what a replay of known data through a deployed model looks like.

Benchmarks, scripts and tests feed a model examples whose answers are known; each prediction, judged
against the known answer, becomes the :class:`~pioneer.events.LabeledTrace` the join would have produced
for live traffic, with ``outcome`` and ``failure`` filled as the joiner fills them.

>>> from pioneer.events import Output
>>> from pioneer.training import Example
>>> t = labeled_trace(Example(id="r-1", text="hi", label="greet"), Output(label="bye"), model="m", version="v",
...                   task="classification", at=10.0)
>>> t.outcome, t.failure.kind, t.failure.expected_label
('fail', 'misclassification', 'greet')
"""

from __future__ import annotations

from pioneer.events import Input, LabeledTrace, ModelRef, Output
from pioneer.join.outcome import judge
from pioneer.training.base import Example


def labeled_trace(
    example: Example,
    prediction: Output,
    *,
    model: str,
    version: str,
    task: str,
    at: float,
    expected: Output | None = None,
    source: str = "human",
) -> LabeledTrace:
    """The trace of ``example`` answered with ``prediction``, labelled with ``expected`` (default: the example's).

    ``expected`` lets callers plant label noise: the trace then carries a wrong correction.
    """
    expected = expected if expected is not None else example.expected()
    failure = judge(task, prediction, expected, text=example.text)
    correct = failure is None
    return LabeledTrace(
        event_id=f"trace-{example.id}",
        timestamp=at,
        request_id=example.id,
        model=ModelRef(name=model, version=version),
        task=task,  # type: ignore[arg-type]
        input=Input(text=example.text, system_prompt=example.system_prompt),
        prediction=prediction,
        expected=expected,
        outcome="pass" if correct else "fail",
        verdict="pass" if correct else "fail",
        source=source,  # type: ignore[arg-type]
        failure=failure,
        log_event_id=f"log-{example.id}",
        label_event_id=f"label-{example.id}",
        served_at=at,
        labeled_at=at,
    )

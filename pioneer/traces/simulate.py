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

from pioneer.events import Failure, Input, LabeledTrace, ModelRef, Output, Span
from pioneer.traces.examples import output_key
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
    correct = output_key(task, prediction) == output_key(task, expected)
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
        failure=None if correct else _failure(task, prediction, expected),
        log_event_id=f"log-{example.id}",
        label_event_id=f"label-{example.id}",
        served_at=at,
        labeled_at=at,
    )


def _failure(task: str, prediction: Output, expected: Output) -> Failure:
    if task == "classification":
        return Failure(kind="misclassification", expected_label=expected.label, predicted_label=prediction.label)
    if task == "entity_extraction":
        predicted = {s.key(): s for s in prediction.spans or []}
        gold = {s.key(): s for s in expected.spans or []}
        return Failure(
            kind="span_mismatch",
            missed_spans=[_plain(gold[k]) for k in gold if k not in predicted],
            spurious_spans=[_plain(predicted[k]) for k in predicted if k not in gold],
        )
    return Failure(kind="judged_fail")


def _plain(span: Span) -> Span:
    return Span(start=span.start, end=span.end, label=span.label, text=span.text)

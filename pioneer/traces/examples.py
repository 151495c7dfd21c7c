"""What a labelled trace teaches: turning traces into training examples, and comparing outputs.

A failing trace teaches its correction (``expected``); a passing trace teaches what the model already
answered (its ``expected`` when a labeller wrote one, else its prediction, which the verdict confirmed). A
trace with no usable output (a judge's bare "fail" with no correction) teaches nothing and yields None.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from pioneer.events import LabeledTrace, Output
from pioneer.training.base import Example


def target_output(trace: LabeledTrace) -> Output | None:
    """The output the trace says is right, or None when it does not say."""
    if trace.expected is not None and has_content(trace.task, trace.expected):
        return trace.expected
    if trace.outcome == "pass":
        return trace.prediction
    return None


def has_content(task: str, output: Output) -> bool:
    """Whether ``output`` carries what ``task`` is trained on (a label, a span list, a text)."""
    if task == "classification":
        return output.label is not None
    if task == "entity_extraction":
        return output.spans is not None
    return output.text is not None


def trace_to_example(trace: LabeledTrace) -> Example | None:
    """The training example a trace yields (id = its request id), or None when it yields none."""
    output = target_output(trace)
    if output is None:
        return None
    return Example(
        id=trace.request_id,
        text=trace.input.text,
        label=output.label if trace.task == "classification" else None,
        spans=tuple(output.spans) if trace.task == "entity_extraction" and output.spans is not None else None,
        target=output.text if trace.task == "generation" else None,
        system_prompt=trace.input.system_prompt,
    )


def output_key(task: str, output: Output | None) -> Hashable:
    """A comparable identity of an output: the label, the set of (start, end, label) spans, or normalised text."""
    if output is None:
        return None
    if task == "classification":
        return output.label
    if task == "entity_extraction":
        return frozenset(span.key() for span in output.spans or ())
    return " ".join((output.text or "").split()).casefold()


def render(task: str, output: Output | None) -> str:
    """A short human-readable form of an output, for reports."""
    if output is None:
        return "-"
    if task == "classification":
        return str(output.label)
    if task == "entity_extraction":
        return ", ".join(f"{s.label}:{s.text or (s.start, s.end)}" for s in output.spans or ()) or "(no entities)"
    text = output.text or ""
    return text if len(text) <= 80 else text[:77] + "..."


def unique_by_id(examples: Iterable[Example]) -> list[Example]:
    """The first example of each id, in order."""
    seen: set[str] = set()
    out = []
    for e in examples:
        if e.id not in seen:
            seen.add(e.id)
            out.append(e)
    return out

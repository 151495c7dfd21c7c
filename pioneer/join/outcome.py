"""Whether a served request failed, per task kind, and what exactly went wrong.

* classification: the corrected label differs from the prediction, or the verdict is ``fail``;
* entity extraction: the corrected span set differs (keeping which spans were missed and which invented),
  or the verdict is ``fail``;
* generation: the judge's verdict is ``fail`` (without a verdict, a corrected text that differs from the
  generated one after whitespace and case normalisation).
"""

from __future__ import annotations

from pioneer.events import Failure, InferenceLog, Label, Output, Span


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def assess(log: InferenceLog, label: Label) -> Failure | None:
    """The failure this label reveals in this log, or None when the model got it right.

    >>> from pioneer.events import Input, ModelRef, Output
    >>> log = InferenceLog(event_id="e", timestamp=0, request_id="r", model=ModelRef(name="m", version="v"),
    ...     task="classification", input=Input(text="hi"), prediction=Output(label="greet"), latency_ms=1)
    >>> assess(log, Label(event_id="l", timestamp=0, request_id="r", source="human", expected=Output(label="bye")))
    Failure(kind='misclassification', expected_label='bye', predicted_label='greet', missed_spans=None, spurious_spans=None)
    >>> assess(log, Label(event_id="l", timestamp=0, request_id="r", source="judge", verdict="pass")) is None
    True
    """
    return judge(log.task, log.prediction, label.expected, verdict=label.verdict, text=log.input.text)


def judge(
    task: str, prediction: Output, expected: Output | None, *, verdict: str | None = None, text: str = ""
) -> Failure | None:
    """The failure a correction (``expected``) or a judge's ``verdict`` reveals in ``prediction`` for a request
    whose input was ``text``, or None when the model got it right. The one rule for every task kind.

    >>> judge("entity_extraction", Output(spans=[]), Output(spans=[Span(start=0, end=5, label="LOC")]),
    ...       text="Paris is far").missed_spans
    [Span(start=0, end=5, label='LOC', text='Paris')]
    """
    if task == "classification" and expected is not None and expected.label is not None:
        if expected.label != prediction.label:
            return Failure(kind="misclassification", expected_label=expected.label, predicted_label=prediction.label)
    elif task == "entity_extraction" and expected is not None and expected.spans is not None:
        want = {s.key(): s for s in expected.spans}
        got = {s.key(): s for s in prediction.spans or []}
        missed = [want[k] for k in sorted(want.keys() - got.keys())]
        spurious = [got[k] for k in sorted(got.keys() - want.keys())]
        if missed or spurious:
            return Failure(kind="span_mismatch", missed_spans=_with_text(missed, text),
                           spurious_spans=_with_text(spurious, text))
    elif (
        task == "generation"
        and verdict is None
        and expected is not None
        and expected.text is not None
        and _norm(expected.text) != _norm(prediction.text or "")
    ):
        return Failure(kind="judged_fail")
    if verdict == "fail":
        return Failure(
            kind="judged_fail",
            expected_label=expected.label if expected else None,
            predicted_label=prediction.label,
        )
    return None


def _with_text(spans: list[Span], text: str) -> list[Span]:
    """Spans with their surface text filled in, so a reader of the trace needs no offsets arithmetic."""
    return [s if s.text is not None else Span(start=s.start, end=s.end, label=s.label, text=text[s.start : s.end]) for s in spans]

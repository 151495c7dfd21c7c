"""A correction checked by the task's own checker: the strongest evidence a diagnosis can have.

Where answers can be verified (a number, a JSON schema, a pattern: :mod:`pioneer.judging.checkers`), a label's
correction is judged as if the model had answered it. A correction the checker rejects is poisoned feedback
(swapped numbers, a negation the labeller missed, a false premise it believed) whatever its neighbours say; one
it accepts is a real failure worth training on, even on an input unlike anything trusted (a new wording). Where
the checker cannot judge (``unjudgeable``, or a judge fault) the diagnosis falls back on the neighbours.

>>> from pioneer.events import Input, ModelRef, Output
>>> from pioneer.judging import NumericChecker
>>> from pioneer.traces import labeled_trace
>>> from pioneer.training.base import Example
>>> trace = labeled_trace(Example(text="2 + 2?", id="r1"), Output(text="5"), model="m", version="v",
...                       task="generation", at=1.0, expected=Output(text="2 + 2 = 4"))
>>> check_correction(NumericChecker(reference={"2 + 2?": 4}), trace, Output(text="2 + 2 = 4")).verdict
'pass'
>>> check_correction(NumericChecker(reference={}), trace, Output(text="2 + 2 = 4")) is None
True
"""

from __future__ import annotations

import logging

from pioneer.events import InferenceLog, LabeledTrace, Output
from pioneer.judging.base import Judge, JudgeError, Verdict

log = logging.getLogger(__name__)


def check_correction(checker: Judge, trace: LabeledTrace, expected: Output) -> Verdict | None:
    """The checker's verdict on ``expected`` as an answer to ``trace``'s input; None when it gives none."""
    answered = InferenceLog(
        event_id=f"check:{trace.request_id}", timestamp=trace.labeled_at, request_id=trace.request_id,
        model=trace.model, task=trace.task, input=trace.input, prediction=expected, latency_ms=0.0,
    )
    try:
        return checker.judge(answered)
    except JudgeError as exc:
        if exc.kind != "unjudgeable":
            log.warning("checker failed; diagnosing by neighbours", extra={"request_id": trace.request_id,
                                                                            "kind": exc.kind})
        return None
    except Exception:  # a broken checker must not stop a diagnosis: the neighbours still vote
        log.exception("checker raised; diagnosing by neighbours", extra={"request_id": trace.request_id})
        return None

"""A judge that is a local model of the same task: its own answer is the reference the served one is held to.

A deployment often has a model too large or too slow to serve but affordable on a sample: a teacher. The
:class:`ModelJudge` asks it to answer each sampled request and passes the served answer when the two agree (by
the same rule the join applies to a correction, :func:`pioneer.join.outcome.judge`); otherwise it fails it and
offers its own answer as the correction. Where the teacher is unsure (its top score under ``min_confidence``)
it abstains (``unjudgeable``) rather than guess.

>>> from pioneer.events import Input, ModelRef, Output
>>> class Teacher:
...     task = "classification"
...     def predict(self, texts):
...         return [Output(label="transfer", scores={"transfer": 0.9, "balance": 0.1}) for _ in texts]
>>> log = InferenceLog(event_id="e", timestamp=0, request_id="r", model=ModelRef(name="m", version="v"),
...     task="classification", input=Input(text="shift 50 over to savings"), prediction=Output(label="balance"),
...     latency_ms=1)
>>> verdict = ModelJudge(Teacher(), name="teacher").judge(log)
>>> verdict.verdict, verdict.correction.label, round(verdict.score, 2)
('fail', 'transfer', 0.1)
"""

from __future__ import annotations

from typing import Any

from pioneer.events import InferenceLog, Output
from pioneer.join.outcome import judge as assess
from pioneer.judging.base import Judge, JudgeError, Verdict


class ModelJudge(Judge):
    """Judges served answers against a local model's own (see the module docstring).

    Parameters
    ----------
    model
        A task adapter (``predict(texts) -> [Output]``, and its ``task``), e.g. a registry's ``load_adapter``.
    name
        The judge's identity on its labels (the model's name and version).
    min_confidence
        Abstain below this top score of the model's answer (0: never abstain); in [0, 1).
    """

    def __init__(self, model: Any, *, name: str, min_confidence: float = 0.0) -> None:
        if not 0.0 <= min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in [0, 1), got {min_confidence}")
        if not name:
            raise ValueError("name must be a non-empty judge identity")
        self.model = model
        self._name = name
        self.min_confidence = min_confidence

    @property
    def name(self) -> str:
        return self._name

    def warm(self) -> ModelJudge:
        """Load the model now (one answer to a throwaway request): a first call that loads it could outlast the
        worker's timeout and lose its log's label."""
        self.model.predict(["warm-up"])
        return self

    def judge(self, log: InferenceLog) -> Verdict:
        if log.task != self.model.task:
            raise JudgeError("unjudgeable", f"the judge model answers {self.model.task}, the log is {log.task}")
        (mine,) = self.model.predict([log.input.text])
        confidence = _confidence(mine)
        if confidence is not None and confidence < self.min_confidence:
            raise JudgeError("unjudgeable", f"the judge model is unsure ({confidence:.2f} < {self.min_confidence:.2f})")
        failure = assess(log.task, log.prediction, mine, text=log.input.text)
        sure = 1.0 if confidence is None else confidence
        if failure is None:
            return Verdict(verdict="pass", score=sure, reason=f"the judge model answers the same ({_show(mine)})",
                           judge=self.name)
        return Verdict(verdict="fail", score=1.0 - sure, reason=f"the judge model answers {_show(mine)}",
                       judge=self.name, correction=mine)


def _confidence(output: Output) -> float | None:
    """The model's score for its own label, where it gives scores."""
    if output.label is None or not output.scores:
        return None
    score = output.scores.get(output.label)
    return float(score) if score is not None and 0.0 <= score <= 1.0 else None


def _show(output: Output) -> str:
    if output.label is not None:
        return repr(output.label)
    if output.spans is not None:
        return f"{len(output.spans)} spans"
    return repr((output.text or "")[:80])

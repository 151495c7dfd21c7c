"""Programmatic judges for answers that can be verified: a number, a JSON document, a pattern.

Each checker reads the answer (the generated text, or the predicted label when there is no text) and passes
or fails it with score 1 or 0; a checker that has no reference for a request raises
:class:`~pioneer.judging.base.JudgeError` of kind ``unjudgeable`` rather than guessing.

>>> from pioneer.events import InferenceLog, Input, ModelRef, Output
>>> log = InferenceLog(event_id="e", timestamp=0, request_id="r", model=ModelRef(name="m", version="v"),
...     task="generation", input=Input(text="What is 6 * 7?"), prediction=Output(text="6 * 7 = 42."), latency_ms=1)
>>> NumericChecker(reference={"What is 6 * 7?": 42}).judge(log).verdict
'pass'
>>> RegexChecker(pattern=r"= 4[0-9]\\.$").judge(log).verdict
'pass'
>>> JsonSchemaChecker(schema={"type": "object"}).judge(log).verdict
'fail'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema
import orjson

from pioneer.events import InferenceLog, Output
from pioneer.judging.base import Judge, JudgeError, Verdict
from pioneer.metrics import last_number

MAX_ANSWER_CHARS = 100_000
"""Characters of an answer a checker reads (a pathological answer must not stall the worker)."""
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n```$", re.DOTALL)


def answer_of(log: InferenceLog) -> str:
    """The text a checker judges: the generated text, else the predicted label."""
    text = log.prediction.text if log.prediction.text is not None else log.prediction.label
    if text is None:
        raise JudgeError("unjudgeable", f"request {log.request_id} has neither a generated text nor a label to check")
    return text[:MAX_ANSWER_CHARS]


class NumericChecker(Judge):
    """Passes an answer whose last number equals the expected one (within ``tolerance``, relative).

    Parameters
    ----------
    reference
        Expected numbers keyed by the request's input text (a benchmark's questions and answers).
    expected
        Or a callable giving the expected number of a log (None: no reference for it).
    tolerance
        Relative tolerance, at least 1e-9 of max(1, |expected|).
    correction
        Writes the right answer of a log (None: it cannot); a failed answer's verdict then carries it, so the
        judge's label can teach the request, not only mark it.
    """

    def __init__(
        self,
        *,
        reference: Mapping[str, float] | None = None,
        expected: Callable[[InferenceLog], float | None] | None = None,
        tolerance: float = 1e-9,
        correction: Callable[[InferenceLog], str | None] | None = None,
    ) -> None:
        if (reference is None) == (expected is None):
            raise ValueError("give exactly one of reference (a mapping) or expected (a callable)")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        self.reference = reference
        self.expected = expected
        self.tolerance = tolerance
        self.correction = correction

    @property
    def name(self) -> str:
        return "numeric-checker"

    def judge(self, log: InferenceLog) -> Verdict:
        want = self.expected(log) if self.expected is not None else self.reference.get(log.input.text)  # type: ignore[union-attr]
        if want is None or not math.isfinite(float(want)):
            raise JudgeError("unjudgeable", f"no reference number for request {log.request_id}")
        want = float(want)
        got = last_number(answer_of(log))
        if got is None:
            return Verdict(verdict="fail", score=0.0, reason=f"no number in the answer; expected {want:g}",
                           judge=self.name, correction=self._corrected(log))
        if abs(got - want) <= max(self.tolerance, 1e-9) * max(1.0, abs(want)):
            return Verdict(verdict="pass", score=1.0, reason=f"answered {got:g}, expected {want:g}", judge=self.name)
        return Verdict(verdict="fail", score=0.0, reason=f"answered {got:g}, expected {want:g}", judge=self.name,
                       correction=self._corrected(log))

    def _corrected(self, log: InferenceLog) -> Output | None:
        text = self.correction(log) if self.correction is not None else None
        return Output(text=text) if text else None


class JsonSchemaChecker(Judge):
    """Passes an answer that is a JSON document (optionally in a code fence) valid against ``schema``."""

    def __init__(self, *, schema: Mapping[str, Any]) -> None:
        try:
            self._validate = fastjsonschema.compile(dict(schema))
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise ValueError(f"schema is not a valid JSON schema: {exc}") from exc
        self.schema = schema

    @property
    def name(self) -> str:
        return "json-schema-checker"

    def judge(self, log: InferenceLog) -> Verdict:
        text = answer_of(log).strip()
        fenced = _FENCE.match(text)
        try:
            document = orjson.loads(fenced.group(1) if fenced else text)
        except orjson.JSONDecodeError as exc:
            return Verdict(verdict="fail", score=0.0, reason=f"not JSON: {exc}"[:300], judge=self.name)
        try:
            self._validate(document)
        except fastjsonschema.JsonSchemaValueException as exc:
            return Verdict(verdict="fail", score=0.0, reason=f"invalid: {exc.message}"[:300], judge=self.name)
        return Verdict(verdict="pass", score=1.0, reason="valid against the schema", judge=self.name)


class RegexChecker(Judge):
    """Passes an answer the regular expression matches (anywhere, or whole with ``fullmatch=True``)."""

    def __init__(self, *, pattern: str, fullmatch: bool = False) -> None:
        try:
            self._compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
        self.pattern = pattern
        self.fullmatch = fullmatch

    @property
    def name(self) -> str:
        return "regex-checker"

    def judge(self, log: InferenceLog) -> Verdict:
        text = answer_of(log)
        matched = (self._compiled.fullmatch if self.fullmatch else self._compiled.search)(text) is not None
        how = "matches" if matched else "does not match"
        return Verdict(verdict="pass" if matched else "fail", score=1.0 if matched else 0.0,
                       reason=f"answer {how} /{self.pattern}/"[:300], judge=self.name)

"""The judge interface: one served request in, one verdict out.

A judge looks at an inference log (the input and what the model answered) and says whether the answer is
right. Judges differ in how they know: a programmatic checker verifies a checkable answer, an endpoint judge
asks a language model. Whatever a judge cannot decide it says by raising :class:`JudgeError` (with a kind the
worker counts), never by guessing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from pioneer.events import InferenceLog, Output

ErrorKind = Literal["unjudgeable", "invalid_reply", "transport", "timeout"]


class JudgeError(Exception):
    """A judge could not give a verdict.

    ``kind`` says why: ``unjudgeable`` (no reference answer for this request: expected, not a fault),
    ``invalid_reply`` (the judge answered something that is not a verdict), ``transport`` (the judge could
    not be reached or answered an HTTP error), ``timeout``.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's verdict on one request.

    >>> Verdict(verdict="pass", score=1.0, reason="42 is the expected 42", judge="numeric").passed
    True
    """

    verdict: Literal["pass", "fail"]
    score: float
    """Confidence that the answer is right, in [0, 1]."""
    reason: str
    judge: str
    """The judge's identity (name, and the model behind it for an endpoint judge)."""
    correction: Output | None = None
    """The answer the judge holds right, where it can write one (a checker that recomputes it, a model that
    predicts its own label): the label's correction, what a failing request trains on."""

    def __post_init__(self) -> None:
        if self.verdict not in ("pass", "fail"):
            raise ValueError(f"verdict must be 'pass' or 'fail', got {self.verdict!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


class Judge(ABC):
    """Something that judges served answers."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The judge's identity, recorded on every label it produces."""

    @abstractmethod
    def judge(self, log: InferenceLog) -> Verdict:
        """The verdict on ``log``'s answer; raises :class:`JudgeError` when there is none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

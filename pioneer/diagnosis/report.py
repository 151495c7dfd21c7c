"""The diagnosis report: for each target pattern, what failed, how many, which failures training can fix, why.

Stored with the retrain request's record and published in summary; its JSON form is what people read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["fixable", "label_noise", "out_of_scope", "adversarial", "no_correction", "already_fixed"]
VERDICTS: tuple[str, ...] = ("fixable", "label_noise", "out_of_scope", "adversarial", "no_correction", "already_fixed")
"""Why a failure is or is not a training target, in the order the diagnoser tests them (last: fixable)."""


@dataclass(slots=True, kw_only=True)
class Finding:
    """One failure and what the diagnosis concluded about it."""

    request_id: str
    text: str
    expected: str
    predicted: str
    verdict: Verdict
    reason: str


@dataclass(slots=True, kw_only=True)
class PatternDiagnosis:
    """The verdict on one error pattern."""

    pattern_id: str
    name: str
    fixable: bool
    reason: str
    failures: int
    passes: int
    counts: dict[str, int]
    """Failures per verdict."""
    verdicts: dict[str, str]
    """Request id of every failure -> its verdict (the curriculum takes only ``fixable`` ones)."""
    pass_ids: list[str] = field(default_factory=list)
    examples: list[Finding] = field(default_factory=list)
    """A few findings per verdict, for people."""

    def ids(self, verdict: str) -> list[str]:
        return [request_id for request_id, v in self.verdicts.items() if v == verdict]


@dataclass(slots=True, kw_only=True)
class DiagnosisReport:
    """Every target pattern's diagnosis for one retrain request."""

    model: str
    version: str | None
    request_id: str | None
    task: str
    patterns: list[PatternDiagnosis]

    @property
    def fixable(self) -> list[PatternDiagnosis]:
        return [p for p in self.patterns if p.fixable]

    def summary(self) -> str:
        """One line per pattern: ``p-1 'name': fixable (12 fixable, 3 label_noise)``."""
        lines = []
        for p in self.patterns:
            counts = ", ".join(f"{n} {v}" for v, n in p.counts.items() if n)
            lines.append(
                f"{p.pattern_id} {p.name!r}: {'fixable' if p.fixable else 'not fixable'} ({counts}); {p.reason}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiagnosisReport:
        patterns = []
        for p in data["patterns"]:
            p = dict(p)
            p["examples"] = [Finding(**f) for f in p.get("examples", [])]
            patterns.append(PatternDiagnosis(**p))
        return cls(**{**data, "patterns": patterns})

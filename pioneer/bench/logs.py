"""What AdaptFT-Bench generates: inference logs that carry their own ground truth.

A benchmark of a self-retraining loop needs to know, for every log, what a perfect labeller would have said and
what the feedback actually said. :class:`SyntheticLog` holds both: ``example`` is the input with its *true*
output (what the held-out set scores against), ``feedback`` is the label that arrives on the labels topic (equal
to the true output unless the log is poison), and ``kind`` names the noise that produced it.

Noise kinds come in two categories, and the difference is the whole point of the benchmark:

- **fixable**: the input is unusual (typos, truncation, a preamble, a distracting number, drifted wording, a new
  way of asking for a known intent) but the feedback is right; training on it helps;
- **poison**: the feedback is wrong or the input is an attack (a random or systematic mislabel, swapped numbers,
  a negated question keeping the old answer, a false premise, a prompt injection, a jailbreak); training on it
  hurts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pioneer.events import Output
from pioneer.training.base import Example

Category = Literal["clean", "fixable", "poison"]
Split = Literal["train", "test"]

FIXABLE_KINDS: tuple[str, ...] = (
    "typo",
    "truncation",
    "preamble",
    "number_distractor",
    "paraphrase_drift",
    "new_phrasing",
)
"""Noise that training on correct feedback can fix."""

POISON_KINDS: tuple[str, ...] = (
    "mislabel",
    "clustered_flip",
    "number_swap",
    "negation_flip",
    "false_premise",
    "prompt_injection",
    "jailbreak",
)
"""Noise that must never become a training target."""

KINDS: tuple[str, ...] = ("clean", *FIXABLE_KINDS, *POISON_KINDS)


def category_of(kind: str) -> Category:
    """``clean``, ``fixable`` or ``poison`` for a noise kind name.

    >>> category_of("typo"), category_of("jailbreak"), category_of("clean")
    ('fixable', 'poison', 'clean')
    """
    if kind == "clean":
        return "clean"
    if kind in FIXABLE_KINDS:
        return "fixable"
    if kind in POISON_KINDS:
        return "poison"
    raise ValueError(f"unknown noise kind {kind!r}; use one of {', '.join(KINDS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticLog:
    """One generated inference log with its ground truth.

    ``example.id`` is the request id; ``example`` carries the true output, ``feedback`` what the labeller sent.
    ``pattern`` names the planted failure pattern the log belongs to (a withheld phrasing family, a systematic
    flip), when it belongs to one.
    """

    example: Example
    feedback: Output
    kind: str
    stage: int
    split: Split
    pattern: str | None = None

    @property
    def id(self) -> str:
        return self.example.id

    @property
    def category(self) -> Category:
        return category_of(self.kind)

    @property
    def poisoned(self) -> bool:
        return self.category == "poison"

    def with_split(self, split: Split) -> SyntheticLog:
        return dataclasses.replace(self, split=split)


@dataclass(frozen=True, slots=True)
class Stage:
    """One deployment stage: its poison rate and its logs, split into what retraining sees and what is held out."""

    index: int
    poison_rate: float
    train: tuple[SyntheticLog, ...]
    test: tuple[SyntheticLog, ...]

    @property
    def logs(self) -> tuple[SyntheticLog, ...]:
        return (*self.train, *self.test)


@dataclass(frozen=True, slots=True)
class BenchLogs:
    """Every stage's logs and the fixed held-out set (the union of every stage's test split)."""

    stages: tuple[Stage, ...]

    @property
    def heldout(self) -> list[SyntheticLog]:
        return [log for stage in self.stages for log in stage.test]

    def heldout_examples(self) -> list[Example]:
        """The held-out inputs with their *true* outputs: what every checkpoint is scored on."""
        return [log.example for log in self.heldout]

    def by_id(self) -> dict[str, SyntheticLog]:
        return {log.id: log for stage in self.stages for log in stage.logs}

    def counts(self) -> list[dict[str, int]]:
        """Logs per kind in each stage (train and test together)."""
        out = []
        for stage in self.stages:
            counts: dict[str, int] = {}
            for log in stage.logs:
                counts[log.kind] = counts.get(log.kind, 0) + 1
            out.append(dict(sorted(counts.items())))
        return out


def feedback_example(log: SyntheticLog) -> Example:
    """The example a labeller's feedback makes of ``log`` (what a naive retrain would train on)."""
    fb = log.feedback
    return dataclasses.replace(
        log.example,
        label=fb.label if log.example.label is not None else None,
        spans=tuple(fb.spans) if log.example.spans is not None and fb.spans is not None else log.example.spans,
        target=fb.text if log.example.target is not None else None,
    )


def poison_share(logs: Sequence[SyntheticLog]) -> float:
    """Share of poison logs (0 for none).

    >>> poison_share([])
    0.0
    """
    return sum(log.poisoned for log in logs) / len(logs) if logs else 0.0

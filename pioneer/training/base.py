"""The one interface every task adapter implements: fit, predict, evaluate with per-example correctness,
save and load. Diagnosis, curriculum, gates, the retrain loop and serving speak only this interface.

An adapter's constructor takes its config (hyperparameters only; no data, no I/O). ``fit`` learns from
examples, ``predict`` returns one :class:`~pioneer.events.Output` per input (the same type that inference logs
carry), ``evaluate`` scores examples and says, for each one, whether the model got it right: that list is what
the regression gate counts negative flips on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

from pioneer.events import Output, Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One labelled example of any task kind.

    ``label`` for classification, ``spans`` (character offsets into ``text``) for entity extraction, ``target``
    for generation. ``id`` is stable across runs (a request id or a dataset row id): gates match examples by it.
    """

    text: str
    id: str
    label: str | None = None
    spans: tuple[Span, ...] | None = None
    target: str | None = None
    system_prompt: str | None = None

    def expected(self) -> Output:
        """The expected output, in the shape predictions take."""
        return Output(
            label=self.label,
            spans=None if self.spans is None else list(self.spans),
            text=self.target,
        )


@dataclass(slots=True, kw_only=True)
class Evaluation:
    """Scores of a model on a list of examples, kept per example so gates can compare two models."""

    metric_name: str
    metric: float
    ids: list[str]
    correct: list[bool]
    predictions: list[Output]
    per_slice: dict[str, float] = field(default_factory=dict)
    """Metric per label (classification) or per entity type (entity extraction)."""
    extra: dict[str, float] = field(default_factory=dict)
    """Further metrics (precision, recall, loss, ...)."""

    def correct_by_id(self) -> dict[str, bool]:
        return dict(zip(self.ids, self.correct, strict=True))


ProgressCallback = Callable[[int, int, dict[str, float]], None]
"""Called as ``callback(step, total_steps, logs)`` during ``fit``."""


@dataclass(slots=True, kw_only=True)
class BaseTrainConfig:
    """Hyperparameters every adapter shares. Subclasses add their own fields, each with help text."""

    base_model: str | None = field(default=None, metadata={"help": "Hugging Face id or local path; None = offline default."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training data."})
    batch_size: int = field(default=16, metadata={"help": "Examples per optimisation step."})
    max_length: int = field(default=64, metadata={"help": "Tokens per example; longer inputs are truncated."})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    seed: int = field(default=0, metadata={"help": "Seed of every random choice in training."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; None picks cuda when available."})


class TaskAdapter(ABC):
    """Train, predict and evaluate one task kind. See the module docstring."""

    task: ClassVar[str]
    """``classification``, ``entity_extraction`` or ``generation``."""
    metric_name: ClassVar[str]
    """The headline metric ``evaluate`` reports (``accuracy``, ``entity_f1``, ``exact_match``)."""

    @abstractmethod
    def fit(
        self,
        train: Sequence[Example],
        *,
        validation: Sequence[Example] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        """Learn from ``train`` (from the base model: every fit starts afresh). Returns self."""

    @abstractmethod
    def predict(self, texts: Sequence[str]) -> list[Output]:
        """One output per input text."""

    @abstractmethod
    def evaluate(self, examples: Sequence[Example]) -> Evaluation:
        """Score ``examples`` and say which ones the model gets right."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write weights (safetensors only) and config (JSON) into ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Load what :meth:`save` wrote. Never unpickles; never runs remote code."""

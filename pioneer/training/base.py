"""The one interface every task adapter implements: fit, predict, evaluate with per-example correctness,
save and load. Diagnosis, curriculum, gates, the retrain loop and serving speak only this interface.

An adapter's constructor takes its config (hyperparameters only; no data, no I/O). ``fit`` learns from
examples, ``predict`` returns one :class:`~pioneer.events.Output` per input (the same type that inference logs
carry), ``evaluate`` scores examples and says, for each one, whether the model got it right: that list is what
the regression gate counts negative flips on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pioneer.events import Output, Span

if TYPE_CHECKING:
    from pioneer.training.runtime import FitClock

log = logging.getLogger(__name__)


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
    # Added after the first version; every field has a default, so existing callers are unaffected.
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "Module names LoRA adapts (e.g. ('query', 'value')); None = peft's default for the architecture."},
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps spent warming the learning rate up."})
    eval_batch_size: int = field(default=64, metadata={"help": "Examples per forward pass in predict and evaluate."})
    num_threads: int | None = field(
        default=None,
        metadata={"help": "CPU threads torch may use (torch.set_num_threads, process-wide); None leaves torch's choice."},
    )
    progress_bar: bool | None = field(
        default=None, metadata={"help": "Show tqdm progress; None shows it only when stderr is a terminal."}
    )

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field whose value is out of range (adapters call it on construction)."""
        positive = ("learning_rate", "epochs", "batch_size", "max_length", "lora_r", "lora_alpha", "eval_batch_size")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0.")
        for name in ("lora_dropout", "warmup_ratio"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in [0, 1).")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay!r} must be ≥ 0.")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads={self.num_threads!r} must be ≥ 1, or None to leave torch's default.")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values of every field (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`. Unknown keys (written by a newer Pioneer) are ignored with a warning."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            log.warning("ignoring unknown config fields", extra={"config": cls.__name__, "fields": unknown})
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        return cls(**kwargs)

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of the config and its class: equal hashes mean equal recipes."""
        payload = json.dumps({"class": type(self).__name__, **self.to_dict()}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


class TaskAdapter(ABC):
    """Train, predict and evaluate one task kind. See the module docstring."""

    task: ClassVar[str]
    """``classification``, ``entity_extraction`` or ``generation``."""
    metric_name: ClassVar[str]
    """The headline metric ``evaluate`` reports (``accuracy``, ``entity_f1``, ``exact_match``)."""
    warm_starts: ClassVar[bool] = False
    """Whether ``fit(start_from=...)`` can continue from another fitted adapter's weights, and :meth:`blend`
    can interpolate between two such adapters."""
    blends_from_base: ClassVar[bool] = False
    """Whether :meth:`blend` is also worth searching between a fit from the base model and another fit, not only
    toward the fit it continued from: true where every point of that line is still a working model."""

    config_class: ClassVar[type[BaseTrainConfig]] = BaseTrainConfig
    """The config an adapter builds when it is given none."""
    config: BaseTrainConfig
    """The hyperparameters the adapter was built with (each adapter narrows the type to its own config)."""
    fit_stats_: dict[str, float]
    """After ``fit``: ``seconds``, ``examples``, ``steps``, ``examples_per_second``, ``train_loss`` (when the
    strategy has one) and ``validation_metric`` (when ``fit`` got validation examples)."""

    def __init__(self, config: BaseTrainConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.config.validate()
        self.fit_stats_ = {}

    def fit(
        self,
        train: Sequence[Example],
        *,
        validation: Sequence[Example] | None = None,
        progress: ProgressCallback | None = None,
        start_from: TaskAdapter | None = None,
    ) -> Self:
        """Learn from ``train``, from the base model, or with ``start_from`` (a fitted adapter of the same
        kind, left untouched) from its weights, where the adapter ``warm_starts``. Returns self."""
        from pioneer.training.runtime import library_progress  # runtime imports this module

        if start_from is not None and not self.warm_starts:
            raise ValueError(f"{type(self).__name__} cannot warm-start; fit it without start_from")
        if start_from is not None and type(start_from) is not type(self):
            raise ValueError(f"cannot warm-start a {type(self).__name__} from a {type(start_from).__name__}")
        with library_progress(self.config):
            if start_from is None:
                return self._fit(train, validation=validation, progress=progress)
            return self._fit(train, validation=validation, progress=progress, start_from=start_from)

    def blend(self, toward: Self, weight: float) -> Self:
        """A new adapter whose weights are ``weight`` × this one's + (1 − ``weight``) × ``toward``'s (both left
        untouched); only for adapters that ``warm_starts``.

        A fine-tuned model pulled part of the way back to the model it started from keeps most of the gain and
        breaks less of what the start got right (weight-space ensembling, Wortsman et al., "Robust fine-tuning
        of zero-shot models"): the trainer's lever against negative flips.
        """
        raise ValueError(f"{type(self).__name__} cannot blend weights with another adapter")

    def _check_fitted(self) -> None:
        """Raise :class:`~pioneer.errors.NotFittedError` before the adapter has learned; adapters that warm-start
        or blend say how they tell (the base cannot, so it accepts)."""

    # The steps every adapter's fit, warm start and blend share; each adapter supplies only its own rules.

    def _begin_fit(self, train: Sequence[Example]) -> FitClock:
        """Settle threads and seeds, and start the clock of a fit on ``train`` (already checked by the adapter)."""
        from transformers import set_seed

        # runtime imports this module
        from pioneer.training.runtime import FitClock, apply_threads

        apply_threads(self.config)
        set_seed(self.config.seed)  # head init, dropout and LoRA init all draw from torch's generator
        return FitClock(len(train))

    def _end_fit(
        self,
        clock: FitClock,
        validation: Sequence[Example] | None,
        what: str,
        *,
        steps: int,
        epochs: float,
        train_loss: float | None,
        **details: Any,
    ) -> Self:
        """Fill ``fit_stats_`` (with the validation metric when there are validation examples) and log the fit."""
        self.fit_stats_ = clock.stats(steps=steps, epochs=epochs, train_loss=train_loss)
        if validation:
            self.fit_stats_["validation_metric"] = self.evaluate(validation).metric
        log.info("fitted %s", what, extra={**details, **self.fit_stats_})
        return self

    def _warm_start_source(self, start_from: Self | None, reasons: Callable[[Self], list[str]]) -> Self | None:
        """``start_from`` when ``reasons`` (the adapter's rule) finds nothing against continuing from it; None
        (train from the base model) otherwise, with the reasons logged."""
        if start_from is None:
            return None
        start_from._check_fitted()
        why = reasons(start_from)
        if why:
            log.warning("training from the base model instead of warm-starting", extra={"why": "; ".join(why)})
            return None
        return start_from

    def _check_blend(self, toward: Self, weight: float, reasons: Callable[[Self], list[str]], needs: str) -> None:
        """Raise ``ValueError`` (saying the blend ``needs`` ...) unless ``weight`` is in [0, 1], both adapters are
        fitted and of one class, and ``reasons`` (the adapter's rule) finds nothing against blending them."""
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight={weight!r} must be in [0, 1].")
        self._check_fitted()
        if type(toward) is not type(self):
            raise ValueError(f"cannot blend a {type(self).__name__} with a {type(toward).__name__}")
        toward._check_fitted()
        why = reasons(toward)
        if why:
            raise ValueError(f"blend needs {needs}: " + "; ".join(why))

    @abstractmethod
    def _fit(
        self,
        train: Sequence[Example],
        *,
        validation: Sequence[Example] | None,
        progress: ProgressCallback | None,
    ) -> Self:
        """What :meth:`fit` does, with the libraries' own progress bars already settled."""

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

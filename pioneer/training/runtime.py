"""What every adapter does around training the same way: pick the device, set threads, report progress.

Kept apart from the adapters so the three of them cannot drift: the same ``device=None`` rule, the same
progress contract (:data:`~pioneer.training.base.ProgressCallback`), the same quiet Trainer when not on a TTY.
Imports torch and transformers lazily: importing this module is cheap.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pioneer.training.base import BaseTrainConfig, ProgressCallback

if TYPE_CHECKING:
    import torch
    from transformers import TrainerCallback

T = TypeVar("T")


def pick_device(requested: str | None) -> torch.device:
    """``requested`` as a torch device; ``None`` → cuda when available, else mps, else cpu."""
    import torch

    if requested is not None:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def apply_threads(config: BaseTrainConfig) -> None:
    """Honour ``config.num_threads`` (process-wide in torch, so only when the user asked for it)."""
    if config.num_threads is not None:
        import torch

        torch.set_num_threads(config.num_threads)


def show_progress(config: BaseTrainConfig) -> bool:
    """Whether to draw tqdm bars: the config's choice, else only when stderr is a terminal."""
    if config.progress_bar is not None:
        return config.progress_bar
    return sys.stderr.isatty()


@contextmanager
def library_progress(config: BaseTrainConfig) -> Iterator[None]:
    """Hide the bars transformers and datasets draw on their own ("Loading weights", "Tokenizing train
    dataset") unless progress is shown; their settings are process-wide, so they are restored afterwards."""
    if show_progress(config):
        yield
        return
    import datasets
    from transformers.utils import logging as hf_logging

    transformers_on = hf_logging.is_progress_bar_enabled()
    datasets_on = not datasets.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if transformers_on:
            hf_logging.enable_progress_bar()
        if datasets_on:
            datasets.enable_progress_bars()


def batched(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def progress_iter(items: Iterable[T], *, total: int, desc: str, config: BaseTrainConfig) -> Iterable[T]:
    """``items`` wrapped in a tqdm bar when :func:`show_progress` says so."""
    if not show_progress(config):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=desc, leave=False)


@dataclass(slots=True)
class FitClock:
    """Measures a fit and fills the adapter's ``fit_stats_``."""

    examples: int
    started: float = field(default_factory=time.perf_counter)

    def stats(self, *, steps: int, epochs: float, train_loss: float | None = None) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        out = {
            "seconds": seconds,
            "examples": float(self.examples),
            "steps": float(steps),
            "examples_per_second": self.examples * epochs / seconds if seconds > 0 else math.inf,
        }
        if train_loss is not None:
            out["train_loss"] = float(train_loss)
        return out


def trainer_callback(progress: ProgressCallback) -> TrainerCallback:
    """A transformers ``TrainerCallback`` that forwards each optimisation step to ``progress``.

    ``logs`` carries the latest Trainer logs (loss, learning_rate, epoch) once, at the step they were made.
    """
    from transformers import TrainerCallback

    class _Forward(TrainerCallback):
        def __init__(self) -> None:
            self.pending: dict[str, float] = {}

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            self.pending.update({k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)})

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            logs, self.pending = self.pending, {}
            progress(int(state.global_step), int(state.max_steps), logs)

    return _Forward()


def training_arguments(config: BaseTrainConfig, output_dir: str, *, cls: Any = None, **overrides: Any) -> Any:
    """``TrainingArguments`` (or ``cls``, e.g. trl's ``SFTConfig``) for a quiet, checkpoint-free in-memory run.

    Nothing is written under ``output_dir`` (no checkpoints, no reports); adapters save explicitly with
    ``save``. Mixed precision is used only on CUDA, where it is a clear win; CPU stays float32.
    """
    from transformers import TrainingArguments

    device = pick_device(config.device)
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.eval_batch_size,
        "num_train_epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "warmup_steps": config.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        "lr_scheduler_type": "linear",
        "seed": config.seed,
        "data_seed": config.seed,
        "save_strategy": "no",
        "eval_strategy": "no",
        "report_to": "none",
        "logging_strategy": "steps",
        "logging_steps": 10,
        "disable_tqdm": not show_progress(config),
        "use_cpu": device.type == "cpu",
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": device.type == "cuda",
        "remove_unused_columns": False,
        "gradient_checkpointing": False,
        "bf16": device.type == "cuda" and _cuda_bf16(),
        "fp16": False,
    }
    kwargs.update(overrides)
    return (cls or TrainingArguments)(**kwargs)


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def quiet_trainer(trainer: Any) -> Any:
    """Remove the Trainer's stdout log printer (added when tqdm is off): Pioneer reports via logs and callbacks."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def final_loss(trainer: Any) -> float | None:
    """The last training loss the Trainer logged (its ``train_loss`` average when there is one)."""
    for entry in reversed(trainer.state.log_history):
        if "train_loss" in entry:
            return float(entry["train_loss"])
        if "loss" in entry:
            return float(entry["loss"])
    return None

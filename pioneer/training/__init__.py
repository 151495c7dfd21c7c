"""Task adapters: one interface (``TaskAdapter``) to train, predict and evaluate each task kind."""

from pioneer.training.base import BaseTrainConfig, Evaluation, Example, ProgressCallback, TaskAdapter

__all__ = ["BaseTrainConfig", "Evaluation", "Example", "ProgressCallback", "TaskAdapter"]

"""Task adapters: one interface (``TaskAdapter``) to train, predict and evaluate each task kind."""

from pioneer.training.base import BaseTrainConfig, Evaluation, Example, ProgressCallback, TaskAdapter
from pioneer.training.classification import ClassificationAdapter, ClassificationConfig
from pioneer.training.entity_extraction import EntityExtractionAdapter, EntityExtractionConfig
from pioneer.training.factory import ADAPTERS, adapter_for, config_for, load_adapter
from pioneer.training.generation import GenerationAdapter, GenerationConfig

__all__ = [
    "ADAPTERS",
    "BaseTrainConfig",
    "ClassificationAdapter",
    "ClassificationConfig",
    "EntityExtractionAdapter",
    "EntityExtractionConfig",
    "Evaluation",
    "Example",
    "GenerationAdapter",
    "GenerationConfig",
    "ProgressCallback",
    "TaskAdapter",
    "adapter_for",
    "config_for",
    "load_adapter",
]

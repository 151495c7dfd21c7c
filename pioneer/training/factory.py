"""Pick an adapter by task name, or reload a saved one from its folder.

The table below is the only place that maps a task to code. A saved folder's manifest names its *task*, never a
class path to import, so loading a model cannot be made to run arbitrary code.

>>> adapter_for("classification").metric_name
'accuracy'
>>> type(adapter_for("entity_extraction", {"epochs": 1.0}).config).__name__
'EntityExtractionConfig'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pioneer.errors import ConfigError
from pioneer.events import TASKS
from pioneer.training.base import BaseTrainConfig, TaskAdapter
from pioneer.training.classification import ClassificationAdapter, ClassificationConfig
from pioneer.training.entity_extraction import EntityExtractionAdapter, EntityExtractionConfig
from pioneer.training.generation import GenerationAdapter, GenerationConfig
from pioneer.training.persistence import read_manifest

ADAPTERS: Mapping[str, tuple[type[TaskAdapter], type[BaseTrainConfig]]] = {
    "classification": (ClassificationAdapter, ClassificationConfig),
    "entity_extraction": (EntityExtractionAdapter, EntityExtractionConfig),
    "generation": (GenerationAdapter, GenerationConfig),
}
assert set(ADAPTERS) == set(TASKS)


def config_for(task: str, values: BaseTrainConfig | Mapping[str, Any] | None = None) -> BaseTrainConfig:
    """The config class of ``task``, built from a mapping of field values (or checked, if already a config)."""
    if task not in ADAPTERS:
        raise ConfigError(f"task={task!r} is not known; use one of {', '.join(ADAPTERS)}.")
    config_cls = ADAPTERS[task][1]
    if values is None:
        return config_cls()
    if isinstance(values, BaseTrainConfig):
        if not isinstance(values, config_cls):
            raise ConfigError(f"a {type(values).__name__} was given for task {task!r}; pass a {config_cls.__name__}.")
        return values
    unknown = sorted(set(values) - set(config_cls.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{config_cls.__name__} has no field(s) {', '.join(unknown)}; check the spelling.")
    return config_cls.from_dict(values)


def adapter_for(task: str, config: BaseTrainConfig | Mapping[str, Any] | None = None) -> TaskAdapter:
    """A fresh (unfitted) adapter for ``task`` with ``config`` (a config object, a dict of fields, or defaults)."""
    adapter_cls = ADAPTERS[task][0] if task in ADAPTERS else None
    cfg = config_for(task, config)
    assert adapter_cls is not None
    return adapter_cls(cfg)  # type: ignore[call-arg]


def load_adapter(directory: str | Path) -> TaskAdapter:
    """Reload a fitted adapter from a folder written by its ``save``."""
    manifest = read_manifest(Path(directory))
    task = manifest.get("task")
    if task not in ADAPTERS:
        raise ConfigError(f"{directory}: task {task!r} in the manifest is not one this Pioneer knows ({', '.join(ADAPTERS)}).")
    return ADAPTERS[task][0].load(Path(directory))

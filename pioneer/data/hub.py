"""Hugging Face ``datasets`` by name, for users whose machines reach the hub (or have it cached).

Rows become examples through the same field mapping as JSONL/CSV. Integer class labels are turned into their
names through the dataset's ``ClassLabel`` feature; token-tagged rows (``tokens`` + ``ner_tags``, as the hub's
CoNLL-2003 has) become text plus character spans. Dataset scripts are never run: ``datasets`` ≥ 3 loads only
data files, and Pioneer passes no ``trust_remote_code``.
"""

from __future__ import annotations

import os
from typing import Any

from pioneer.data.conll import sentence_to_example
from pioneer.data.records import Fields, check_task, example_from_record
from pioneer.errors import ConfigError
from pioneer.training.base import Example


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _names(feature: Any) -> list[str] | None:
    """Class names of a ClassLabel feature (or of a sequence of them)."""
    names = getattr(feature, "names", None)
    if names is None:
        inner = getattr(feature, "feature", None)
        names = getattr(inner, "names", None)
    return list(names) if names is not None else None


def load_hf_dataset(
    name: str,
    *,
    split: str = "train",
    config_name: str | None = None,
    task: str | None = None,
    text_field: str = "text",
    label_field: str = "label",
    target_field: str = "target",
    spans_field: str = "spans",
    tokens_field: str = "tokens",
    tags_field: str = "ner_tags",
    id_field: str = "id",
    limit: int | None = None,
) -> list[Example]:
    """Load ``split`` of hub dataset ``name`` into examples with ids ``<name>:<split>:<row>`` (or the row's id).

    Raises :class:`~pioneer.errors.ConfigError` with the reason when the dataset cannot be had (no network,
    ``HF_HUB_OFFLINE=1`` with nothing cached, an unknown name).
    """
    check_task(task)
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets ships with trl
        raise ConfigError("load_hf_dataset needs the `datasets` package; pip install datasets.") from exc
    try:
        dataset = datasets.load_dataset(name, config_name, split=split)
    except Exception as exc:
        hint = " The hub is switched off here (HF_HUB_OFFLINE=1) and it is not cached;" if _offline() else ""
        raise ConfigError(
            f"could not load Hugging Face dataset {name!r} (split {split!r}): {type(exc).__name__}: {exc}.{hint} "
            "Use a local file instead (JSONL, CSV, CoNLL, span JSON) or run where the hub is reachable."
        ) from exc
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    features = dataset.features
    columns = set(dataset.column_names)
    token_tagged = tokens_field in columns and tags_field in columns and task in (None, "entity_extraction")
    label_names = _names(features.get(label_field)) if label_field in columns else None
    tag_names = _names(features.get(tags_field)) if token_tagged else None
    fields = Fields(text=text_field, label=label_field, target=target_field, spans=spans_field, id=id_field)
    prefix = f"{name}:{split}"
    examples: list[Example] = []
    for i, row in enumerate(dataset):
        default_id = f"{prefix}:{i}"
        row_id = row.get(id_field)
        example_id = default_id if row_id in (None, "") else f"{prefix}:{row_id}"
        if token_tagged:
            tags = [tag_names[t] if tag_names is not None else str(t) for t in row[tags_field]]
            examples.append(sentence_to_example([str(t) for t in row[tokens_field]], tags, example_id))
            continue
        record = dict(row)
        if label_names is not None and isinstance(record.get(label_field), int):
            record[label_field] = label_names[record[label_field]]
        record[id_field] = example_id
        examples.append(example_from_record(record, default_id=default_id, fields=fields, task=task))
    return examples

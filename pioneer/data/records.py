"""Turn one generic record (a JSONL object, a CSV row, a Hugging Face row) into an :class:`Example`.

JSONL, CSV and hub datasets share this so that the same field names mean the same thing in every format, and
so the checks (a classification example needs a label, a span must lie inside its text) are written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pioneer.errors import ConfigError
from pioneer.events import TASKS, Span
from pioneer.training.base import Example


@dataclass(frozen=True, slots=True, kw_only=True)
class Fields:
    """Which record keys hold which part of an example. Unused keys are simply absent from a record."""

    text: str = "text"
    label: str = "label"
    target: str = "target"
    spans: str = "spans"
    id: str = "id"
    system_prompt: str = "system_prompt"


def check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise ConfigError(f"task={task!r} is not known; use one of {', '.join(TASKS)} (or None to infer it).")


def parse_spans(value: Any, text: str, where: str) -> tuple[Span, ...]:
    """Spans from a list of ``{"start", "end", "label"}`` objects (``slot``/``type``/``entity`` also name the
    label) or ``[start, end, label]`` triples, or the same list as a JSON string (as a CSV cell holds it)."""
    if isinstance(value, str):
        value = orjson.loads(value) if value.strip() else []
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: spans must be a list, got {type(value).__name__}.")
    spans: list[Span] = []
    for item in value:
        if isinstance(item, Mapping):
            label = item.get("label", item.get("slot", item.get("type", item.get("entity"))))
            start, end = item.get("start"), item.get("end")
        elif isinstance(item, list | tuple) and len(item) == 3:
            start, end, label = item
        else:
            raise ValueError(f"{where}: span {_shown(item)} is neither an object nor a [start, end, label] triple.")
        if label is None or start is None or end is None:
            raise ValueError(f"{where}: span {_shown(item)} needs start, end and label.")
        try:
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: span {_shown(item)} needs integer offsets.") from None
        if not isinstance(label, str | int):
            raise ValueError(f"{where}: span {_shown(item)} needs a label name.")
        if not 0 <= start < end <= len(text):
            raise ValueError(f"{where}: span {_shown(item)} is outside its text of {len(text)} characters.")
        spans.append(Span(start=start, end=end, label=str(label), text=text[start:end]))
    return tuple(sorted(spans, key=lambda s: (s.start, s.end, s.label)))


def _shown(item: Any, limit: int = 80) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[:limit] + "…"


def example_from_record(record: Mapping[str, Any], *, default_id: str, fields: Fields, task: str | None) -> Example:
    """Build one example; ``task`` (when given) says which answer field must be present."""
    where = default_id
    text = record.get(fields.text)
    if text is None:
        raise ValueError(f"{where}: no {fields.text!r} field; pass text_field= naming the input column.")
    text = str(text)
    raw_id = record.get(fields.id)
    example_id = default_id if raw_id in (None, "") else str(raw_id)
    label = record.get(fields.label)
    target = record.get(fields.target)
    spans_value = record.get(fields.spans)
    system_prompt = record.get(fields.system_prompt) or None
    if task == "classification" and label in (None, ""):
        raise ValueError(f"{where}: no {fields.label!r} field; pass label_field= naming the label column.")
    if task == "generation" and target is None:
        raise ValueError(f"{where}: no {fields.target!r} field; pass target_field= naming the answer column.")
    if task == "entity_extraction" and spans_value is None:
        raise ValueError(f"{where}: no {fields.spans!r} field; pass spans_field= naming the spans column.")
    keep_label = task in (None, "classification")
    keep_target = task in (None, "generation")
    keep_spans = task in (None, "entity_extraction")
    return Example(
        text=text,
        id=example_id,
        label=str(label) if keep_label and label not in (None, "") else None,
        target=str(target) if keep_target and target is not None else None,
        spans=parse_spans(spans_value, text, where) if keep_spans and spans_value is not None else None,
        system_prompt=str(system_prompt) if system_prompt else None,
    )

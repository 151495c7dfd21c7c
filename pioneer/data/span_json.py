"""Span JSON in the Restaurant-8k layout (PolyAI task-specific datasets).

Each item: ``{"userInput": {"text": ...}, "labels": [{"slot": ..., "valueSpan": {"startIndex": s, "endIndex": e}}]}``.
A missing ``startIndex`` means 0 (the published files omit zeros). Items without ``labels`` have no entities,
which is a real answer (the model must predict none), so they are kept. Spans are trimmed of surrounding
whitespace (5 of the 7,635 training spans start with a space).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from pioneer.events import Span
from pioneer.training.base import Example


def _item_to_example(item: dict[str, Any], example_id: str, where: str) -> Example:
    try:
        text = str(item["userInput"]["text"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: no userInput.text; is this a Restaurant-8k style file?") from exc
    try:
        spans = [_span(label, text, where) for label in item.get("labels") or []]
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: labels must be a list of {{slot, valueSpan: {{startIndex, endIndex}}}} "
                         f"({type(exc).__name__}: {exc}).") from exc
    spans.sort(key=lambda s: (s.start, s.end, s.label))
    return Example(text=text, id=example_id, spans=tuple(spans))


def _span(label: dict[str, Any], text: str, where: str) -> Span:
    value = label.get("valueSpan") or {}
    slot = str(label["slot"])
    try:
        start = int(value.get("startIndex", 0))
        end = int(value.get("endIndex", len(text)))
    except ValueError:
        raise ValueError(f"{where}: the span of {slot!r} has offsets that are not integers.") from None
    # A handful of published spans start or end on a space (" quarter to 8pm"); trim it, as no tokenizer
    # can place a boundary inside whitespace and the entity is the same.
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if not 0 <= start < end <= len(text):
        raise ValueError(f"{where}: span {start}..{end} of {slot!r} is outside a text of {len(text)} characters.")
    return Span(start=start, end=end, label=slot, text=text[start:end])


def load_span_json(path: str | Path, *, id_prefix: str | None = None) -> list[Example]:
    """Read a Restaurant-8k style JSON list into entity-extraction examples with ids ``<prefix>:<index>``."""
    path = Path(path)
    prefix = id_prefix or path.stem
    try:
        items = orjson.loads(path.read_bytes())  # past 1,024 levels an error, not a RecursionError
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}).") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of items with userInput and labels.")
    return [_item_to_example(item, f"{prefix}:{i}", f"{path}[{i}]") for i, item in enumerate(items)]

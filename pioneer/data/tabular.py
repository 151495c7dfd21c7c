"""JSONL and CSV files: one example per line or row, with configurable column names.

Ids are the record's own ``id`` column when it has one, else ``<prefix>:<row number>`` (the prefix defaults to
the file's stem), so they stay the same every time the same file is read.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import orjson

from pioneer.data.records import Fields, check_task, example_from_record
from pioneer.training.base import Example


def load_jsonl(
    path: str | Path,
    *,
    task: str | None = None,
    text_field: str = "text",
    label_field: str = "label",
    target_field: str = "target",
    spans_field: str = "spans",
    id_field: str = "id",
    system_prompt_field: str = "system_prompt",
    id_prefix: str | None = None,
) -> list[Example]:
    """Read a JSON Lines file of objects such as ``{"text": ..., "label": ...}``.

    ``spans`` is a list of ``{"start", "end", "label"}`` character spans; ``target`` a reference answer. With
    ``task`` set, a record missing that task's answer field is an error; with ``task=None`` each example keeps
    whatever answer fields it has.
    """
    check_task(task)
    path = Path(path)
    fields = Fields(
        text=text_field, label=label_field, target=target_field, spans=spans_field, id=id_field,
        system_prompt=system_prompt_field,
    )
    prefix = id_prefix or path.stem
    examples: list[Example] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)  # a clear error past 1,024 levels, not a RecursionError
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no + 1}: not valid JSON ({exc.msg}).") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_no + 1}: expected a JSON object per line.")
            examples.append(example_from_record(record, default_id=f"{prefix}:{line_no}", fields=fields, task=task))
    return examples


def load_csv(
    path: str | Path,
    *,
    task: str | None = None,
    text_field: str = "text",
    label_field: str = "label",
    target_field: str = "target",
    spans_field: str = "spans",
    id_field: str = "id",
    system_prompt_field: str = "system_prompt",
    delimiter: str | None = None,
    id_prefix: str | None = None,
) -> list[Example]:
    """Read a CSV (or TSV) file with a header row: ``text,label`` for classification, ``text,target`` for
    generation (column names configurable; a ``spans`` column holds the spans as JSON).

    ``delimiter=None`` picks a tab for ``.tsv`` files and a comma otherwise.
    """
    check_task(task)
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    fields = Fields(
        text=text_field, label=label_field, target=target_field, spans=spans_field, id=id_field,
        system_prompt=system_prompt_field,
    )
    prefix = id_prefix or path.stem
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            if reader.fieldnames is None or text_field not in reader.fieldnames:
                raise ValueError(
                    f"{path}: header {reader.fieldnames} has no {text_field!r} column; pass text_field= naming it."
                )
            return [
                example_from_record(row, default_id=f"{prefix}:{row_no}", fields=fields, task=task)
                for row_no, row in enumerate(reader)
            ]
        except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit: not a ValueError
            raise ValueError(f"{path}:{reader.line_num}: not a readable CSV row ({exc}).") from exc

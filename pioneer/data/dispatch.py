"""One entry point that picks the loader from a path's extension and contents, or a hub name.

| input | loader |
| --- | --- |
| ``*.jsonl`` / ``*.ndjson`` | :func:`load_jsonl` |
| ``*.csv`` / ``*.tsv`` | :func:`load_csv` |
| ``*.conll`` / ``*.bio`` / ``*.iob`` / ``*.txt`` | :func:`load_conll` |
| ``*.json``: a dict of splits (CLINC150), else a list of ``userInput`` items | :func:`load_clinc150` / :func:`load_span_json` |
| a folder holding ``data_full.json`` | :func:`load_clinc150` |
| anything that is not a local path | :func:`load_hf_dataset` |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pioneer.data.clinc150 import is_clinc150_file, load_clinc150
from pioneer.data.conll import load_conll
from pioneer.data.hub import load_hf_dataset
from pioneer.data.records import check_task
from pioneer.data.span_json import load_span_json
from pioneer.data.tabular import load_csv, load_jsonl
from pioneer.errors import ConfigError
from pioneer.training.base import Example

_CONLL_SUFFIXES = {".conll", ".bio", ".iob", ".txt"}


def _check_fits(kind: str, fixed_task: str, task: str | None) -> None:
    if task is not None and task != fixed_task:
        raise ConfigError(f"{kind} files hold {fixed_task} data, but task={task!r} was asked for.")


def load_dataset(path_or_name: str | Path, *, task: str | None = None, split: str | None = None, **options: Any) -> list[Example]:
    """Load examples from a file, a folder or a Hugging Face dataset name.

    ``split`` selects a CLINC150 split (default ``train``) or a hub split (default ``train``); other keyword
    ``options`` go to the chosen loader (``text_field=``, ``label_field=``, ``include_oos=`` ...).
    """
    check_task(task)
    path = Path(path_or_name)
    if not path.exists():
        if isinstance(path_or_name, Path) or str(path_or_name).startswith((".", "/", "~")) or path.suffix:
            raise FileNotFoundError(f"{path_or_name}: no such file or folder.")
        return load_hf_dataset(str(path_or_name), split=split or "train", task=task, **options)
    if path.is_dir():
        if (path / "data_full.json").exists():
            _check_fits("CLINC150", "classification", task)
            return load_clinc150(path, split or "train", **options)
        raise ConfigError(f"{path}: a folder, but not a known dataset layout; pass a file instead.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return load_jsonl(path, task=task, **options)
    if suffix in (".csv", ".tsv"):
        return load_csv(path, task=task, **options)
    if suffix in _CONLL_SUFFIXES:
        _check_fits("CoNLL", "entity_extraction", task)
        return load_conll(path, **options)
    if suffix == ".json":
        if is_clinc150_file(path):
            _check_fits("CLINC150", "classification", task)
            return load_clinc150(path, split or "train", **options)
        _check_fits("span JSON", "entity_extraction", task)
        return load_span_json(path, **options)
    raise ConfigError(
        f"{path}: cannot tell the format from {suffix or 'no extension'!r}; use .jsonl, .csv, .tsv, .conll, .json "
        "or call the specific loader (load_jsonl, load_csv, load_conll, load_span_json, load_clinc150)."
    )

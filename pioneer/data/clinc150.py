"""CLINC150 (Larson et al., 2019): ``data_full.json`` with ``train``/``val``/``test`` lists of ``[text, intent]``
plus ``oos_train``/``oos_val``/``oos_test`` out-of-scope queries.

Out-of-scope queries are left out unless asked for, and then carry the label ``oos`` (an ordinary label to the
classifier). Ids are ``clinc150:<split>:<index>`` and ``clinc150:oos_<split>:<index>``.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from pioneer.training.base import Example

OOS_LABEL = "oos"
SPLITS = ("train", "val", "test")


def _data_file(path: str | Path) -> Path:
    path = Path(path)
    return path / "data_full.json" if path.is_dir() else path


def load_clinc150(path: str | Path, split: str = "train", *, include_oos: bool = False) -> list[Example]:
    """Read one split of CLINC150 from ``data_full.json`` (or the folder holding it)."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a CLINC150 split; use one of {', '.join(SPLITS)}.")
    file = _data_file(path)
    try:
        data = orjson.loads(file.read_bytes())  # past 1,024 levels an error, not a RecursionError
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON ({exc}).") from exc
    if not isinstance(data, dict) or split not in data:
        raise ValueError(f"{file}: no {split!r} list; is this CLINC150's data_full.json?")
    examples = [
        Example(text=text, label=intent, id=f"clinc150:{split}:{i}") for i, (text, intent) in _pairs(data[split], file)
    ]
    if include_oos:
        examples += [
            Example(text=text, label=OOS_LABEL, id=f"clinc150:oos_{split}:{i}")
            for i, (text, _) in _pairs(data.get(f"oos_{split}", []), file)
        ]
    return examples


def _pairs(rows: list, file: Path) -> list[tuple[int, tuple[str, str]]]:
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != 2:
            raise ValueError(f"{file}: row {i} is {row!r}, not a [text, intent] pair; is this CLINC150's data_full.json?")
        out.append((i, (str(row[0]), str(row[1]))))
    return out


def is_clinc150_file(path: Path) -> bool:
    """Whether a ``.json`` file looks like CLINC150 (a dict of splits of ``[text, label]`` pairs)."""
    if path.name == "data_full.json":
        return True
    with path.open(encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith("{") and any(f'"{s}"' in head for s in (*SPLITS, "oos_val", "oos_train", "oos_test"))

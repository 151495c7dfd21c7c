"""A cold start's own files damaged on disk: the journal skips what it cannot read and asks again; the frozen
evaluation set and a saved adapter give a clear error, never a traceback from deep inside."""

from __future__ import annotations

import pytest

from pioneer.coldstart import Sourced
from pioneer.coldstart.evalset import EvalSet, content_hash, load_eval_set, save_eval_set
from pioneer.coldstart.sources import AcquiredStore
from pioneer.errors import ConfigError
from pioneer.training.base import Example
from pioneer.training.persistence import MANIFEST, read_manifest, write_manifest

DAMAGED_LINES = [
    "[1, 2]",  # valid JSON, not an object
    '{"source": "teacher:t"}',  # no text, no id
    '{"id": "z", "text": "q", "label": "a"}',  # no source
    "[" * 5000 + "]" * 5000,  # deeper than a parser takes
    '{"id": "c", "text": "cut off by a cr',  # cut mid-write
    "\udcff garbage \x00",
]


def _item(n: int) -> Sourced:
    return Sourced(Example(text=f"what is my balance {n}", label="balance", id=f"x{n}"), "teacher:t")


def test_a_damaged_journal_line_is_skipped_and_the_rest_is_kept(tmp_path, caplog) -> None:
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    store.add([_item(0)])
    store.add_unanswered("a text it could not label", "teacher:t", "no idea")
    with store.path.open("a", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write("\n".join(DAMAGED_LINES) + "\n")
    store.add([_item(1)])

    again = AcquiredStore(store.path)
    assert [i.example.id for i in again.items] == ["x0", "x1"]
    assert again.asked("a text it could not label") and not again.asked("q")
    assert sum("unreadable journal line" in r.getMessage() for r in caplog.records) == len(DAMAGED_LINES)


@pytest.mark.parametrize("content", ["", "{", "[]", '{"hash": "h"}', '{"validation": [1], "gate": []}',
                                     "[" * 5000 + "]" * 5000])
def test_a_damaged_frozen_evaluation_set_is_a_clear_error(tmp_path, content: str) -> None:
    path = tmp_path / "evaluation.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="frozen evaluation set cannot be read"):
        load_eval_set(path)


def test_an_edited_frozen_evaluation_set_is_still_refused_by_its_hash(tmp_path) -> None:
    validation, gate = (_item(0),), (_item(1),)
    path = tmp_path / "evaluation.json"
    save_eval_set(EvalSet(validation, gate, content_hash(validation, gate)), path)
    assert load_eval_set(path).gate == gate
    path.write_text(path.read_text(encoding="utf-8").replace("balance 1", "balance 2"), encoding="utf-8")
    with pytest.raises(ConfigError, match="was modified"):
        load_eval_set(path)


@pytest.mark.parametrize("content", ["", "{", "[1]", '{"format": 1, "task": "classification"}',
                                     '{"format": 1, "config": [], "state": {}}', "[" * 5000 + "]" * 5000])
def test_a_damaged_adapter_manifest_is_a_clear_error(tmp_path, content: str) -> None:
    write_manifest(tmp_path, task="classification", adapter="ClassificationAdapter", config={}, state={})
    assert read_manifest(tmp_path)["task"] == "classification"
    (tmp_path / MANIFEST).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="damaged|format"):
        read_manifest(tmp_path)

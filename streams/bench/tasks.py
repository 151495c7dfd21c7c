"""Any labelled dataset as a deployment: its splits, and the documented recipe of the weak model deployed first.

Split rules (:func:`load_splits`):

- a dataset published with its splits keeps them: CLINC150 (``train`` / ``val`` / ``test``), a CoNLL folder
  (``train.txt`` / ``dev.txt`` / ``test.txt``), a span-JSON folder (``train*.json`` / ``test.json``, as
  Restaurant-8k is published; it has no development split, so a seeded 10% of its training files is the
  validation and gate pool);
- any other file (CSV, JSONL, CoNLL, span JSON) is split by a seeded shuffle: 20% held-out test, 10% for the
  validation and gate sets, the rest is the training split.

The weak model (:func:`weak_model`) learns from a seeded subset of the training split; the rest of it is the
traffic, replayed in a seeded order; the test split is never seen by anything but the final scoring.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pioneer.training.base import Example

TEST_SHARE = 0.2
VALIDATION_SHARE = 0.1
TASKS = ("classification", "entity_extraction")


@dataclass(frozen=True, slots=True, kw_only=True)
class WeakModelRecipe:
    """How the weak model deployed first is built from the training split."""

    per_label: int = 10
    """Classification: examples of each label."""
    sparse_labels: int = 20
    """Classification: labels (seeded) that get only ``sparse_per_label`` examples: added late, barely covered."""
    sparse_per_label: int = 2
    base_sentences: int = 15
    """Entity extraction: training sentences (a tagger trains the steps of 500 sentences on any number: 15 give
    CoNLL-2003 entity F1 ~0.27, 150 already ~0.66)."""
    validation_sentences: int = 100
    gate_sentences: int = 150

    def describe(self, task: str) -> str:
        if task == "classification":
            return (f"{self.per_label} examples of each label, {self.sparse_per_label} of each of {self.sparse_labels}"
                    " seeded labels; validation and gate sets 1 example per label each")
        return (f"{self.base_sentences} seeded training sentences; validation {self.validation_sentences} and gate "
                f"{self.gate_sentences} sentences")


def load_splits(path: Path, task: str, seed: int) -> tuple[list[Example], list[Example], list[Example]]:
    """(train, validation pool, test) of the dataset at ``path``, by the rules in the module's docstring."""
    from pioneer.data import load_conll, load_dataset

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if path.is_dir() and all((path / f"{s}.txt").is_file() for s in ("train", "dev", "test")):
        return tuple(load_conll(path / f"{s}.txt", id_prefix=f"{path.name}:{s}") for s in ("train", "dev", "test"))
    if path.is_dir() and (path / "data_full.json").is_file():
        return tuple(load_dataset(path, task=task, split=s) for s in ("train", "val", "test"))
    if path.is_dir() and (path / "test.json").is_file() and sorted(path.glob("train*.json")):
        return _span_json_splits(path, task, seed)
    examples = load_dataset(path, task=task)
    if task == "classification" and any(e.label is None for e in examples):
        raise ValueError(f"{path}: every example needs a label for a classification deployment")
    order = list(examples)
    random.Random(seed).shuffle(order)
    n_test, n_val = round(TEST_SHARE * len(order)), round(VALIDATION_SHARE * len(order))
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def _span_json_splits(path: Path, task: str, seed: int) -> tuple[list[Example], list[Example], list[Example]]:
    from pioneer.data import load_span_json
    from pioneer.errors import ConfigError

    if task != "entity_extraction":
        raise ConfigError(f"{path}: span-JSON files hold entity_extraction data, but task={task!r} was asked for.")
    train = [e for f in sorted(path.glob("train*.json")) for e in load_span_json(f, id_prefix=f"{path.name}:{f.stem}")]
    random.Random(seed).shuffle(train)
    n_val = round(VALIDATION_SHARE * len(train))
    return train[n_val:], train[:n_val], load_span_json(path / "test.json", id_prefix=f"{path.name}:test")


def weak_model(train: list[Example], pool: list[Example], task: str, recipe: WeakModelRecipe,
               seed: int) -> tuple[list[Example], list[Example], list[Example], list[Example]]:
    """(base training set, validation, gate, traffic) by ``recipe``; the traffic is the rest of ``train``."""
    from pioneer.data import subsample

    if task == "classification":
        labels = sorted({e.label for e in train if e.label is not None})
        sparse = set(random.Random(seed).sample(labels, min(recipe.sparse_labels, max(len(labels) - 1, 0))))
        base = [e for e in subsample(train, per_label=recipe.per_label, seed=seed) if e.label not in sparse]
        base += [e for e in subsample(train, per_label=recipe.sparse_per_label, seed=seed) if e.label in sparse]
        validation = subsample(pool, per_label=1, seed=seed)
        chosen = {e.id for e in validation}
        gate = subsample([e for e in pool if e.id not in chosen], per_label=1, seed=seed)
        used = {e.id for e in base}
        traffic = [e for e in train if e.id not in used]
        random.Random(seed).shuffle(traffic)
        return base, validation, gate, traffic
    order = list(train)
    random.Random(seed).shuffle(order)
    shuffled = list(pool)
    random.Random(seed + 1).shuffle(shuffled)
    end = recipe.validation_sentences + recipe.gate_sentences
    validation, gate = shuffled[: recipe.validation_sentences], shuffled[recipe.validation_sentences : end]
    return order[: recipe.base_sentences], validation, gate, order[recipe.base_sentences :]

"""The evaluation set: built from the most trusted data before anything trains, frozen, content-hashed.

Two halves: ``validation`` ranks the search's candidates, ``gate`` judges the one released. Both are excluded
from every training set (by id and by near-duplicate text; see :mod:`pioneer.coldstart.curate`). Once written,
the file is read back and its hash checked on every run, so the set a model was chosen on cannot drift.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pioneer.coldstart.sources import Sourced, provenance_mix, source_kind, trust
from pioneer.coldstart.task import TaskSpec
from pioneer.errors import ConfigError
from pioneer.training.base import Example

MIN_PER_LABEL = 2
"""Fewer evaluation examples than this for some label: the set cannot judge that label, so the run stops."""


MAX_SHARE = 0.25
"""At most this share of the acquired data goes to evaluation where there are no labels to count per label."""


@dataclass(frozen=True, slots=True)
class EvalSet:
    """A frozen evaluation set; ``hash`` covers every example, its label and its provenance."""

    validation: tuple[Sourced, ...]
    gate: tuple[Sourced, ...]
    hash: str

    @property
    def items(self) -> tuple[Sourced, ...]:
        return self.validation + self.gate

    def examples(self, part: str) -> list[Example]:
        return [item.example for item in getattr(self, part)]

    def provenance(self) -> dict[str, int]:
        return provenance_mix(self.items)


def content_hash(validation: Sequence[Sourced], gate: Sequence[Sourced]) -> str:
    payload = {"validation": [i.to_dict() for i in validation], "gate": [i.to_dict() for i in gate]}
    return "sha256-" + hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def build_eval_set(items: Sequence[Sourced], task: TaskSpec, *, per_label: int = 10, size: int = 100,
                   user_share: float = 0.5, doubted: Collection[str] = ()) -> EvalSet:
    """Pick the evaluation set from ``items``, most trusted first.

    Per label (classification) up to ``per_label`` examples, ``size`` in all for other kinds (and at most
    :data:`MAX_SHARE` of the data, so some is left to train on). At most
    ``user_share`` of the user's examples of a label go to evaluation, so some are left to train on. Examples
    whose id is in ``doubted`` (teacher labels a cross-fitted check disputes) come after all others of their
    source: a noisy validation set cannot see what cleaning the training data gains. Texts a teacher wrote
    (``synthetic``) are never evaluated on.
    """
    groups: dict[str, list[Sourced]] = defaultdict(list)
    doubted = frozenset(doubted)
    items = [i for i in items if source_kind(i.source) != "synthetic"]  # it would score the teacher's imagination
    for item in sorted(items, key=lambda i: (trust(i.source), i.example.id in doubted, _order(i))):
        groups[str(item.example.label) if task.kind == "classification" else ""].append(item)
    quota = per_label if task.kind == "classification" else min(size, max(2, int(len(items) * MAX_SHARE)))
    validation: list[Sourced] = []
    gate: list[Sourced] = []
    for key in sorted(groups):
        users = sum(1 for i in groups[key] if i.source == "user")
        user_cap = int(users * user_share)
        chosen = [i for i in groups[key] if i.source == "user"][:user_cap]
        chosen += [i for i in groups[key] if i.source != "user"][: max(0, quota - len(chosen))]
        chosen = chosen[:quota]
        validation += chosen[0::2]
        gate += chosen[1::2]
    if task.kind == "classification":
        counts = {label: sum(1 for i in validation + gate if i.example.label == label) for label in task.labels}
        thin = sorted(label for label, n in counts.items() if n < MIN_PER_LABEL)
        if thin:
            raise ConfigError(
                f"too little data to evaluate labels {', '.join(thin[:8])} (fewer than {MIN_PER_LABEL} examples "
                "each): add labelled examples of them (--examples), or unlabelled texts (--unlabeled) with a teacher"
            )
    return EvalSet(tuple(validation), tuple(gate), content_hash(validation, gate))


def _order(item: Sourced) -> str:
    return hashlib.sha256(f"eval:{item.example.id}".encode()).hexdigest()


def save_eval_set(eval_set: EvalSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "hash": eval_set.hash,
        "validation": [i.to_dict() for i in eval_set.validation],
        "gate": [i.to_dict() for i in eval_set.gate],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def load_eval_set(path: Path) -> EvalSet:
    """Read a frozen set back; a hash that no longer matches its content is an error, never rebuilt silently."""
    try:
        payload = orjson.loads(path.read_bytes())
        validation = tuple(Sourced.from_dict(d) for d in payload["validation"])
        gate = tuple(Sourced.from_dict(d) for d in payload["gate"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: the frozen evaluation set cannot be read ({type(exc).__name__}: {exc}); restore "
                          "it or start a fresh run in a new --workdir") from exc
    actual = content_hash(validation, gate)
    if actual != payload.get("hash"):
        raise ConfigError(
            f"{path}: the frozen evaluation set was modified (hash {actual} != recorded {payload.get('hash')}); "
            "restore it or start a fresh run in a new --workdir"
        )
    return EvalSet(validation, gate, actual)


def frozen_eval_set(path: Path, items: Sequence[Sourced], task: TaskSpec, **options: Any) -> EvalSet:
    """The set frozen at ``path``, or a new one built from ``items`` and frozen there."""
    if path.exists():
        return load_eval_set(path)
    eval_set = build_eval_set(items, task, **options)  # type: ignore[arg-type]
    save_eval_set(eval_set, path)
    return eval_set

"""Seeded subsets of a dataset, used above all to build deliberately weak deployed models.

>>> from pioneer.training.base import Example
>>> data = [Example(text=f"t{i}", id=str(i), label="ab"[i % 2]) for i in range(10)]
>>> [e.id for e in subsample(data, per_label=2, seed=0)] == [e.id for e in subsample(data, per_label=2, seed=0)]
True
>>> sorted(e.label for e in subsample(data, per_label=2, seed=0))
['a', 'a', 'b', 'b']
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from pioneer.training.base import Example


def subsample(
    examples: Sequence[Example], *, per_label: int | None = None, n: int | None = None, seed: int = 0
) -> list[Example]:
    """Pick ``per_label`` examples of each label (classification), or ``n`` examples overall (any task).

    The choice depends only on ``seed`` and the input order, and the result keeps the input's order, so the
    same call always returns the same examples. A label with fewer examples than ``per_label`` keeps them all.
    """
    if (per_label is None) == (n is None):
        raise ValueError("pass exactly one of per_label= (examples per label) or n= (examples overall).")
    rng = random.Random(seed)
    if n is not None:
        if n < 0:
            raise ValueError(f"n={n} must be ≥ 0.")
        chosen = set(rng.sample(range(len(examples)), min(n, len(examples))))
        return [e for i, e in enumerate(examples) if i in chosen]
    assert per_label is not None
    if per_label < 0:
        raise ValueError(f"per_label={per_label} must be ≥ 0.")
    by_label: dict[str | None, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        if example.label is None:
            raise ValueError(f"example {example.id!r} has no label; use n= for unlabelled tasks.")
        by_label[example.label].append(i)
    chosen = set()
    for label in sorted(by_label, key=str):
        indices = by_label[label]
        chosen.update(rng.sample(indices, min(per_label, len(indices))))
    return [e for i, e in enumerate(examples) if i in chosen]

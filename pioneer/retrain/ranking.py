"""The order in which a retrain's candidates meet the gate.

Best validation score first, except that candidates the validation set cannot tell apart from the best go
first, the smallest step from production first: their loss to the best is within the 95% band (the confidence
the release contract states) of a paired bootstrap over the validation examples
(:func:`pioneer.significance.clearly_better`). A small validation set cannot rank them, and of equals the
smaller step breaks less of what the validation set does not see (docs/deployments.md). Without per-example
evidence (a generator, whose validation decode is too slow to repeat) only exact ties are equals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np

from pioneer.retrain.recipes import Recipe, step_size
from pioneer.significance import clearly_better

EQUAL_WITHIN = 1.96
"""Standard errors of the paired gain within which a candidate counts as equal to the best (two-sided 95%)."""


class Ranked(Protocol):
    recipe: Recipe
    score: float


C = TypeVar("C", bound=Ranked)


def gating_order(candidates: Sequence[C], evidence: Callable[[C], np.ndarray | None]) -> list[C]:
    """``candidates`` in the order the gate should judge them (see the module docstring)."""
    if not candidates:
        return []
    best = max(candidates, key=lambda c: (c.score, -step_size(c.recipe)))
    best_evidence = evidence(best)
    equal = {id(c) for c in candidates
             if c is best or clearly_better(best_evidence, evidence(c), best.score, c.score, errors=EQUAL_WITHIN) == 0}
    equals = sorted((c for c in candidates if id(c) in equal), key=lambda c: step_size(c.recipe))
    rest = sorted((c for c in candidates if id(c) not in equal), key=lambda c: (-c.score, step_size(c.recipe)))
    return [*equals, *rest]

"""The gating order: candidates the validation set cannot tell from the best go first, smallest step first."""

from __future__ import annotations

import dataclasses

import numpy as np

from pioneer.retrain.ranking import gating_order
from pioneer.retrain.recipes import Recipe


@dataclasses.dataclass
class Candidate:
    recipe: Recipe
    score: float
    right: list[bool] | None = None


def evidence(candidate: Candidate) -> np.ndarray | None:
    if candidate.right is None:
        return None
    return np.array([[float(r), 1.0] for r in candidate.right])


REFIT = Recipe(name="refit")
WARM = Recipe(name="warm", warm_start=True)


def blend(weight: float) -> Recipe:
    return dataclasses.replace(WARM, name=f"warm@{weight}", blend=weight)


def test_exact_ties_without_evidence_go_smallest_step_first_then_by_score() -> None:
    candidates = [Candidate(REFIT, 1.0), Candidate(WARM, 1.0), Candidate(blend(0.3), 0.99), Candidate(blend(0.6), 1.0)]
    order = [c.recipe.name for c in gating_order(candidates, evidence)]
    assert order == ["warm@0.6", "warm", "refit", "warm@0.3"]


def test_a_loss_within_the_validation_sets_noise_counts_as_equal() -> None:
    rng = np.random.default_rng(0)
    best = [bool(x) for x in rng.random(200) < 0.9]
    near = list(best)
    near[best.index(True)] = False  # one answer fewer: well within one standard error
    far = [r and i % 4 != 0 for i, r in enumerate(best)]  # a quarter of the right answers lost
    candidates = [
        Candidate(REFIT, float(np.mean(best)), best),
        Candidate(blend(0.3), float(np.mean(near)), near),
        Candidate(blend(0.15), float(np.mean(far)), far),
    ]
    order = [c.recipe.name for c in gating_order(candidates, evidence)]
    assert order == ["warm@0.3", "refit", "warm@0.15"]


def test_a_clearly_better_candidate_keeps_its_place() -> None:
    right = [True] * 180 + [False] * 20
    worse = [True] * 140 + [False] * 60
    candidates = [Candidate(blend(0.3), 0.7, worse), Candidate(REFIT, 0.9, right)]
    assert [c.recipe.name for c in gating_order(candidates, evidence)] == ["refit", "warm@0.3"]
    assert gating_order([], evidence) == []

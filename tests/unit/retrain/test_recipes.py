"""RecipeSearch: what each band of the production score varies, and how a rejection steers the next iteration."""

from __future__ import annotations

import dataclasses

import pytest

from pioneer.events import GateCheck, GateReport
from pioneer.retrain import RecipeSearch
from pioneer.retrain.recipes import Recipe, step_size
from pioneer.training import EntityExtractionConfig


def report(*failed: str) -> GateReport:
    names = ["negative_flips", "regression_set_flips", "pattern_fix_rate:p-1", "metric_floor"]
    return GateReport(passed=not failed, baseline_version="v1", notes=[], checks=[
        GateCheck(name=n, passed=n not in failed, observed=0.0, threshold=0.0, detail="") for n in names
    ])


def test_every_iteration_compares_at_least_two_different_recipes() -> None:
    search = RecipeSearch()
    for score in (0.3, 0.85, 0.97):
        recipes = search.propose(0, config=EntityExtractionConfig(), production_score=score)
        assert len(recipes) == 2 and recipes[0] != recipes[1]
        assert len({r.name for r in recipes}) == 2


def test_a_weak_model_that_can_warm_start_tries_it_next_to_a_fresh_fit() -> None:
    search = RecipeSearch()
    config = EntityExtractionConfig()
    cold, warm = search.propose(0, config=config, production_score=0.3, warm_start=True)
    assert (cold.warm_start, warm.warm_start) == (False, True) and cold.traffic and warm.traffic
    assert not any(r.warm_start for r in search.propose(0, config=config, production_score=0.3))
    # Between 0.80 and 0.95 the second candidate continues from production too; a strong model is handled
    # surgically from the base model either way.
    assert [r.warm_start for r in search.propose(0, config=config, production_score=0.85, warm_start=True)] == [
        False, True]
    assert not any(r.warm_start for r in search.propose(0, config=config, production_score=0.97, warm_start=True))


@pytest.mark.parametrize("check", ["negative_flips", "regression_set_flips"])
def test_after_flips_the_protecting_candidates_warm_start_and_replay_more(check: str) -> None:
    search = RecipeSearch()
    config = EntityExtractionConfig()
    first = search.propose(0, config=config, production_score=0.3, warm_start=True)[0]
    nxt = search.propose(1, config=config, production_score=0.3, last=first, last_report=report(check),
                         warm_start=True)
    assert all(r.warm_start and r.replay_share > first.replay_share for r in nxt)
    assert all(r.config["learning_rate"] < first.config["learning_rate"] for r in nxt)
    # Unfixed patterns alone push harder instead.
    push = search.propose(1, config=config, production_score=0.3, last=first,
                          last_report=report("pattern_fix_rate:p-1"), warm_start=True)
    assert all(r.curriculum_repeat > first.curriculum_repeat for r in push)


def test_coverage_is_offered_below_the_surgical_band() -> None:
    search = RecipeSearch()
    config = EntityExtractionConfig()
    weak = search.propose(0, config=config, production_score=0.5, warm_start=True)
    assert all(r.coverage and r.blend == 1.0 for r in weak)
    # 0.80-0.95: one candidate without extra data, one with traffic and coverage (where the trainer gathers any).
    middle = search.propose(0, config=config, production_score=0.85, warm_start=True)
    assert [(r.traffic, r.coverage, r.warm_start) for r in middle] == [(False, False, False), (True, True, True)]
    assert not any(r.coverage for r in search.propose(0, config=config, production_score=0.97, warm_start=True))
    # From 0.95, only a trainer that gathered coverage there trains on it: in its second, warm-started candidate.
    high = search.propose(0, config=config, production_score=0.97, warm_start=True, coverage=True)
    assert [(r.traffic, r.coverage, r.warm_start, r.curriculum_repeat) for r in high] == [
        (False, False, False, 1), (True, True, True, 1)]
    # A protecting iteration after a weak model's regression keeps the coverage it had.
    nxt = search.propose(1, config=config, production_score=0.5, last=weak[1], last_report=report("negative_flips"),
                         warm_start=True)
    assert all(r.coverage for r in nxt)


def test_equal_scores_rank_the_smallest_step_from_production_first() -> None:
    cold = Recipe(name="it0-a")
    warm = Recipe(name="it0-b", warm_start=True)
    blends = [dataclasses.replace(warm, name=f"it0-b@{w}", blend=w) for w in (0.75, 0.3)]
    ranked = sorted([cold, warm, *blends], key=step_size)
    assert [r.name for r in ranked] == ["it0-b@0.3", "it0-b@0.75", "it0-b", "it0-a"]
    assert step_size(dataclasses.replace(cold, blend=0.5)) > step_size(warm)  # no warm start: further than any

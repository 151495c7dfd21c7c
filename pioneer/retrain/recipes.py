"""Candidate recipes: the hyperparameters and data mix of each train-then-evaluate run.

Every iteration tries at least two recipes (the reference system's rule: one recipe tells you nothing about
which knob mattered). What to vary follows its bands on the production score:

- below 0.80 the problem is data: both candidates add the verified passing traffic and the *coverage* (fixable
  failures outside the target patterns, which the retrainer gathers only in this band) to the training data,
  and differ in how much weight the curriculum gets;
- 0.80 to 0.95: the same hyperparameters with and without the verified traffic and any coverage (the data mix
  is the question; a trainer set to gather coverage up to 0.95 offers it here too);
- from 0.95 it is surgical: the curriculum once, more replay, one gentler candidate (or, where the trainer
  gathers coverage even this high, one that also trains on the traffic and the coverage).

"Verified traffic" is the passing traces not held out for the gate: inputs whose answers a label confirmed.
Training on them adds coverage and anchors the decision boundaries where production is already right, which
cuts the negative flips of a retrain (docs/benchmarks.md).

Where the adapter can continue from the production weights (``warm_starts``: the entity tagger, a classification
head on a frozen encoder, a generator's LoRA adapter), candidates that
must protect what works start from them instead of the base model: a model retrained from the base gains on
its patterns but breaks more of what production got right; continuing from production moves it less
(docs/benchmarks.md). Below 0.95 the second candidate warm-starts,
and so does every "protect" candidate after a regression.

After a rejected iteration the next one moves away from what failed: regressions (flips, slices, metric)
call for more replay and a gentler fit; unfixed patterns call for more weight on the curriculum and a harder fit.

Which config fields are "the fit" depends on the adapter: ``learning_rate`` and ``epochs`` for anything
trained by gradient steps, ``head_c`` (inverse regularisation) for a frozen encoder with a logistic head
(``strategy="head"``), where learning rate and epochs do nothing.

>>> search = RecipeSearch()
>>> [(r.name, r.config, r.traffic) for r in search.propose(0, config=None, production_score=0.85)]
[('it0-a', {'learning_rate': 5e-05, 'epochs': 3.0}, False), ('it0-b', {'learning_rate': 5e-05, 'epochs': 3.0}, True)]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pioneer.events import GateReport
from pioneer.gates.regression import FLIP_CHECKS, SEARCH_HALF_CHECK
from pioneer.training.base import BaseTrainConfig

REGRESSION_CHECKS = (
    *FLIP_CHECKS,
    "regression_set_flips",
    SEARCH_HALF_CHECK,
    "slice_drop",
    "metric_not_below_baseline",
    "metric_floor",
)
"""Failed checks that say a candidate broke what worked: the next iteration protects it (more replay, gentler)."""
DATA_BAND_BELOW = 0.80
"""Production scores below this are a data problem (the reference system's first band)."""
_STRONGER = {"learning_rate": 2.0, "epochs": 1.5, "head_c": 3.0}
_GENTLER = {"learning_rate": 0.5, "epochs": 1.0, "head_c": 1 / 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """One candidate's training recipe."""

    name: str
    config: dict[str, float] = field(default_factory=dict)
    """Overrides of the adapter config (``learning_rate``, ``epochs``, ``head_c``, ...)."""
    curriculum_repeat: int = 2
    """Times the curriculum is repeated in the training set (its weight against the base data)."""
    replay_share: float = 0.15
    hard_negatives_per_gold: int = 1
    traffic: bool = False
    """Also train on the verified passing traffic (not held out), not only on base data and curriculum."""
    coverage: bool = False
    """Also train on the coverage failures: labelled failures outside the target patterns (data-problem band)."""
    warm_start: bool = False
    """Continue from the production version's weights instead of the base model."""
    blend: float = 1.0
    """Share of the fitted weights kept when the retrainer blends a candidate back toward production (1.0: not
    blended). Set by the retrainer, not proposed by the search."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def apply(self, config: BaseTrainConfig | None) -> BaseTrainConfig | None:
        """``config`` with this recipe's overrides (None stays None: the adapter's defaults)."""
        if config is None:
            return None
        known = {f.name for f in dataclasses.fields(config)}
        return dataclasses.replace(config, **{k: v for k, v in self.config.items() if k in known})


def step_size(recipe: Recipe) -> float:
    """How far a candidate moves from production, to rank candidates of equal validation score: a blend moves its
    weight of its fit; a fit from the base model, blended or not, moves further than any warm start."""
    return recipe.blend if recipe.warm_start else 1.0 + recipe.blend


def config_to_dict(config: object) -> dict[str, Any]:
    """A config as JSON-ready values (its ``to_dict`` when it has one), ``{}`` for None."""
    if hasattr(config, "to_dict"):
        return config.to_dict()  # type: ignore[union-attr]
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return {}


def knobs(config: BaseTrainConfig | None) -> dict[str, float]:
    """The config fields that control how hard a fit is, with their current values."""
    if config is not None and getattr(config, "strategy", None) == "head" and hasattr(config, "head_c"):
        return {"head_c": float(config.head_c)}  # type: ignore[attr-defined]
    return {
        "learning_rate": float(getattr(config, "learning_rate", 5e-5)),
        "epochs": float(getattr(config, "epochs", 3.0)),
    }


class RecipeSearch:
    """Proposes the recipes of each iteration. See the module docstring.

    Parameters
    ----------
    candidates
        Recipes per iteration (at least 2).
    """

    def __init__(self, candidates: int = 2) -> None:
        if candidates < 2:
            raise ValueError(
                f"candidates must be >= 2 (one recipe cannot be compared with anything), got {candidates!r}"
            )
        self.candidates = candidates

    def __repr__(self) -> str:
        return f"RecipeSearch(candidates={self.candidates})"

    def propose(
        self,
        iteration: int,
        *,
        config: BaseTrainConfig | None,
        production_score: float | None,
        last: Recipe | None = None,
        last_report: GateReport | None = None,
        candidates: int | None = None,
        warm_start: bool = False,
        coverage: bool = False,
    ) -> list[Recipe]:
        """The recipes of ``iteration`` (0-based), starting from the production version's ``config``;
        ``warm_start`` says whether the adapter can continue from the production weights, ``coverage`` whether
        the retrain gathered failures outside its patterns (a trainer set to, above the data band)."""
        n = max(2, candidates or self.candidates)
        if iteration == 0 or last is None or last_report is None:
            base = Recipe(name="", config=knobs(config))
            fit = base.config
            score = 0.0 if production_score is None else production_score
            if score < DATA_BAND_BELOW:
                variants = [
                    dict(traffic=True, coverage=True),
                    dict(curriculum_repeat=3, hard_negatives_per_gold=2, traffic=True, coverage=True),
                ]
                if warm_start:
                    variants[1] = dict(traffic=True, coverage=True, warm_start=True)
            elif score < 0.95:
                # Coverage is gathered in this band only where the trainer is set to (``coverage_below``).
                variants = [dict(), dict(traffic=True, coverage=True)]
                if warm_start:
                    variants[1] = dict(traffic=True, coverage=True, warm_start=True)
            else:
                surgical = dict(curriculum_repeat=1, replay_share=0.2)
                variants = [surgical, dict(surgical, config=_scaled(fit, _GENTLER))]
                if coverage:  # the second candidate learns from the rest of the failures too, in a warm, blended step
                    variants[1] = dict(surgical, traffic=True, coverage=True, warm_start=warm_start)
        else:
            base = last
            failed = {c.name.split(":")[0] for c in last_report.checks if not c.passed}
            regressed = bool(failed & set(REGRESSION_CHECKS))
            unfixed = "pattern_fix_rate" in failed
            protect = dict(
                replay_share=min(0.3, last.replay_share + 0.1), config=_scaled(last.config, _GENTLER), traffic=True,
                warm_start=warm_start or last.warm_start,
            )
            push = dict(curriculum_repeat=last.curriculum_repeat + 1, config=_scaled(last.config, _STRONGER))
            if regressed and unfixed:
                variants = [protect, push]
            elif regressed:
                variants = [protect, dict(protect, curriculum_repeat=max(1, last.curriculum_repeat - 1))]
            else:
                variants = [push, dict(push, hard_negatives_per_gold=last.hard_negatives_per_gold + 1)]
        while len(variants) < n:  # more candidates than the band suggests: alternate harder and gentler fits
            kind = _STRONGER if len(variants) % 2 == 0 else _GENTLER
            variants.append(dict(variants[len(variants) % 2], config=_scaled(base.config, kind)))
        letters = "abcdefghijklmnopqrstuvwxyz"
        return [
            dataclasses.replace(base, name=f"it{iteration}-{letters[i % 26]}", blend=1.0, **v)
            for i, v in enumerate(variants[:n])
        ]


def _scaled(values: dict[str, float], factors: dict[str, float]) -> dict[str, float]:
    return {k: v * factors.get(k, 1.0) for k, v in values.items()}

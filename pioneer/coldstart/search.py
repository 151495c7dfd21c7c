"""The candidate search: data mix × hyperparameters × learning strategy, scored on the frozen validation half.

Each iteration trains at least two candidates, each one change away from the best recipe so far (the first
iteration: the defaults and the defaults with disputed teacher labels dropped). Every candidate trains from the
base model and none sees the validation half; once the best is chosen, the validation half joins its data for
the release (``refit``): the choice is made, so those examples are worth more as training data than held back
(Restaurant-8k: a quarter of the data held back cost more than the search found). Attempts form a lineage
(parent, what changed, score, seconds). The search stops when an iteration
reaches ``target``, when the budget is spent (checked before each candidate; the first always runs), when
``patience`` iterations bring no gain, or when no untried change is left.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pioneer.coldstart.curate import balance, disputed_teacher_labels
from pioneer.coldstart.sources import Sourced, machine_labelled, source_kind
from pioneer.errors import ConfigError
from pioneer.significance import clearly_better, item_evidence
from pioneer.training import adapter_for
from pioneer.training.base import Example, TaskAdapter

log = logging.getLogger(__name__)

ALL_SOURCES = ("user", "corpus", "teacher", "synthetic")
CURATED = ("classification", "entity_extraction")
"""Kinds whose teacher labels the search can check against the rest of the data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """One candidate: which data (sources, curation) and which config changes from the task's defaults."""

    sources: tuple[str, ...] = ALL_SOURCES
    clean: bool = False
    """Drop teacher labels a cross-fitted model disputes."""
    balance: bool = False
    """Cap each label at 1.5 × the median label count."""
    settings: tuple[tuple[str, Any], ...] = ()
    """Config field overrides, sorted by name."""
    worked: bool = False
    """Generation: train on the teacher's worked answers (chain-of-thought supervision), not their final answers."""

    def with_settings(self, **changes: Any) -> Recipe:
        merged = dict(self.settings) | changes
        return dataclasses.replace(self, settings=tuple(sorted(merged.items())))

    def setting(self, name: str, default: Any) -> Any:
        return dict(self.settings).get(name, default)

    def describe(self) -> str:
        data = "+".join(self.sources) + (" clean" if self.clean else "") + (" balanced" if self.balance else "")
        data += " worked answers" if self.worked else ""
        config = " ".join(f"{k}={v}" for k, v in self.settings)
        return f"{data} | {config or 'defaults'}"


@dataclass(slots=True, kw_only=True)
class Attempt:
    """One trained candidate in the lineage."""

    id: int
    iteration: int
    parent: int | None
    change_kind: str
    """seed, data, hyperparameters or strategy."""
    change: str
    recipe: Recipe
    score: float | None = None
    likelihood: float | None = None
    """Mean log-probability of the validation labels (classification): breaks ties between equal scores."""
    seconds: float = 0.0
    train_size: int = 0
    error: str | None = None
    evidence: Any = field(default=None, repr=False)
    """Per-validation-example counts behind ``score`` (see :mod:`pioneer.significance`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "iteration": self.iteration, "parent": self.parent, "change_kind": self.change_kind,
            "change": self.change, "recipe": self.recipe.describe(), "score": self.score,
            "likelihood": None if self.likelihood is None else round(self.likelihood, 4),
            "seconds": round(self.seconds, 2), "train_size": self.train_size, "error": self.error,
        }


@dataclass(slots=True, kw_only=True)
class SearchResult:
    attempts: list[Attempt]
    best: Attempt
    stop_reason: str
    """target, budget, converged, exhausted or max_iterations."""
    train: list[Sourced] = field(default_factory=list)
    """The release's training data: the best candidate's, plus the ``refit`` examples its recipe keeps."""
    config: Any = None
    """The release's config (the best candidate's; a tagger's own defaults set its steps for the release data)."""
    candidate_train: list[Sourced] = field(default_factory=list)
    candidate_config: Any = None
    """The best candidate exactly as it was validated: its pool (no validation half) and config."""
    fell_back: bool = False
    """The refit failed the gate, so the candidate as validated was released instead."""


Proposal = tuple[str, str, Recipe]
"""(change kind, what changed, recipe)."""


class CandidateSearch:
    """Search recipes for one task; see the module docstring.

    Parameters
    ----------
    kind
        The task kind (``classification``, ...).
    target
        Stop once a candidate's validation metric reaches this (None: never).
    budget_seconds
        Start no candidate after this many seconds (from ``deadline_from``, default the search's start).
    per_iteration
        Candidates per iteration (at least 2).
    max_iterations, patience
        Caps on iterations, and on iterations in a row without a better score.
    strategies
        Learning strategies the search may try (classification: ``head``, ``finetune``, ``lora``).
    settings
        Config values every candidate shares (generation: the system prompt, the answer checker).
    final_answer
        Generation: the bare final answer of a worked one (None: it has none). Given, the search weighs plain
        supervision (final answers) against chain-of-thought supervision (the teacher's worked answers).
    """

    def __init__(
        self,
        *,
        kind: str,
        target: float | None = None,
        budget_seconds: float = 600.0,
        per_iteration: int = 2,
        max_iterations: int = 8,
        patience: int = 2,
        strategies: tuple[str, ...] = ("head",),
        seed: int = 0,
        settings: Mapping[str, Any] | None = None,
        final_answer: Callable[[str], str | None] | None = None,
    ) -> None:
        if per_iteration < 2:
            raise ConfigError(f"per_iteration={per_iteration!r}: the search trains at least two candidates per iteration")
        if target is not None and not 0.0 < target <= 1.0:
            raise ConfigError(f"target={target!r} must be in (0, 1]")
        if budget_seconds < 0:
            raise ConfigError(f"budget_seconds={budget_seconds!r} must be ≥ 0")
        unknown = sorted(set(strategies) - {"head", "finetune", "lora"})
        if unknown:
            raise ConfigError(f"strategies {unknown} are not known; use head, finetune, lora")
        self.kind = kind
        self.target = target
        self.budget_seconds = budget_seconds
        self.per_iteration = per_iteration
        self.max_iterations = max_iterations
        self.patience = patience
        self.strategies = strategies
        self.seed = seed
        self.settings = dict(settings or {})
        self.final_answer = final_answer

    def run(
        self,
        items: Sequence[Sourced],
        validation: Sequence[Example],
        *,
        deadline_from: float | None = None,
        on_start: Callable[[Proposal, int], None] | None = None,
        on_attempt: Callable[[Attempt, list[Attempt]], None] | None = None,
        refit: Sequence[Sourced] = (),
        refit_disputed: Collection[str] = (),
    ) -> SearchResult:
        """Search, then return the best recipe with its release data: its pool plus the ``refit`` examples (the
        validation half) that its recipe keeps (``refit_disputed`` ids are dropped by a cleaning recipe)."""
        started = time.monotonic() if deadline_from is None else deadline_from
        self._items = list(items)
        self._disputed: set[str] | None = None
        attempts: list[Attempt] = []
        tried: set[Recipe] = set()
        stop, stale, best = "max_iterations", 0, None
        for iteration in range(self.max_iterations):
            parent = best
            proposals = self._seeds() if parent is None else self._proposals(parent.recipe, iteration)
            proposals = [p for p in proposals if p[2] not in tried][: self.per_iteration]
            if not proposals:
                stop = "exhausted"
                break
            for proposal in proposals:
                if attempts and time.monotonic() - started >= self.budget_seconds:
                    stop = "budget"
                    break
                tried.add(proposal[2])
                if on_start is not None:
                    on_start(proposal, len(attempts))
                attempt = self._attempt(len(attempts), iteration, parent, proposal, validation)
                attempts.append(attempt)
                if on_attempt is not None:
                    on_attempt(attempt, attempts)
            previous = best
            best = _best(attempts)
            if stop == "budget":
                break
            if self.target is not None and best is not None and (best.score or 0.0) >= self.target:
                stop = "target"
                break
            stale = stale + 1 if previous is not None and best is previous else 0
            if stale >= self.patience:
                stop = "converged"
                break
        if best is None or best.score is None:
            errors = "; ".join(sorted({a.error for a in attempts if a.error}))
            raise ConfigError(f"no candidate could be trained: {errors or 'no data'}")
        train = self._pool(best.recipe, extra=refit, extra_disputed=frozenset(refit_disputed))
        candidate = self._pool(best.recipe)
        return SearchResult(attempts=attempts, best=best, stop_reason=stop, train=train,
                            config=self._config(best.recipe), candidate_train=candidate,
                            candidate_config=self._config(best.recipe))

    # ------------------------------------------------------------------------------------------------ proposals

    def _seeds(self) -> list[Proposal]:
        base = Recipe()
        seeds: list[Proposal] = [("seed", "defaults", base)]
        if self.kind in CURATED and any(machine_labelled(i.source) for i in self._items):
            seeds.append(("data", "drop disputed teacher labels", dataclasses.replace(base, clean=True)))
        if self._has_worked_answers():
            seeds.append(("strategy", "chain-of-thought supervision", dataclasses.replace(base, worked=True)))
        return seeds + self._proposals(base, 0)

    def _has_worked_answers(self) -> bool:
        """Whether some target says more than its final answer (so plain and worked supervision differ)."""
        if self.kind != "generation" or self.final_answer is None:
            return False
        return any((t := i.example.target) and self.final_answer(t) not in (None, t.strip()) for i in self._items)

    def _proposals(self, recipe: Recipe, iteration: int) -> list[Proposal]:
        """One-change neighbours of ``recipe``, interleaved across data, hyperparameters and strategy."""
        groups = [self._data_changes(recipe), self._hyper_changes(recipe), self._strategy_changes(recipe)]
        shift = iteration % len(groups)  # each iteration leads with another kind of change
        groups = groups[shift:] + groups[:shift]
        out: list[Proposal] = []
        for k in range(max(len(g) for g in groups)):
            out += [g[k] for g in groups if k < len(g)]
        return out

    def _data_changes(self, r: Recipe) -> list[Proposal]:
        out: list[Proposal] = []
        kinds = {source_kind(i.source) for i in self._items}
        if kinds & {"teacher", "synthetic"} and self.kind in CURATED:
            out.append(("data", f"{'keep' if r.clean else 'drop'} disputed teacher labels",
                        dataclasses.replace(r, clean=not r.clean)))
        if self.kind == "classification":
            out.append(("data", f"{'un' if r.balance else ''}balance labels", dataclasses.replace(r, balance=not r.balance)))
        if "synthetic" in kinds and kinds - {"synthetic"}:
            sources = tuple(s for s in r.sources if s != "synthetic") if "synthetic" in r.sources else tuple(
                s for s in ALL_SOURCES if s in r.sources or s == "synthetic")
            what = "drop synthetic examples" if "synthetic" in r.sources else "add synthetic examples"
            out.append(("data", what, dataclasses.replace(r, sources=sources)))
        if "teacher" in kinds and {"user", "corpus"} & kinds:
            sources = tuple(s for s in r.sources if s != "teacher") if "teacher" in r.sources else tuple(
                s for s in ALL_SOURCES if s in r.sources or s == "teacher")
            what = "trusted sources only" if "teacher" in r.sources else "add teacher labels"
            out.append(("data", what, dataclasses.replace(r, sources=sources)))
        return out

    def _hyper_changes(self, r: Recipe) -> list[Proposal]:
        config = self._config(r)
        out: list[Proposal] = []
        if getattr(config, "strategy", None) == "head":
            c = config.head_c
            out += [("hyperparameters", f"head_c {c:g}→{c * f:g}", r.with_settings(head_c=c * f)) for f in (10.0, 0.1)
                    if 0.01 <= c * f <= 1000]
            ngrams = 0 if config.char_ngrams else 16384
            out.append(("hyperparameters", f"char_ngrams→{ngrams}", r.with_settings(char_ngrams=ngrams)))
        else:
            lr, epochs = config.learning_rate, config.epochs
            out += [("hyperparameters", f"learning_rate {lr:g}→{lr * f:g}", r.with_settings(learning_rate=lr * f))
                    for f in (2.0, 0.5)]
            out.append(("hyperparameters", f"epochs {epochs:g}→{epochs * 2:g}", r.with_settings(epochs=epochs * 2)))
        return out

    def _strategy_changes(self, r: Recipe) -> list[Proposal]:
        if self.kind != "classification":
            out: list[Proposal] = []
            if self._has_worked_answers():
                what = "plain supervision" if r.worked else "chain-of-thought supervision"
                out.append(("strategy", what, dataclasses.replace(r, worked=not r.worked)))
            if "lora" in self.strategies:
                lora = bool(r.setting("use_lora", getattr(self._config(Recipe()), "use_lora", False)))
                out.append(("strategy", f"use_lora→{not lora}", r.with_settings(use_lora=not lora)))
            return out
        current = "lora" if r.setting("use_lora", False) else r.setting("strategy", "head")
        out: list[Proposal] = []
        for strategy in self.strategies:
            if strategy == current:
                continue
            settings = {"strategy": "head" if strategy == "head" else "finetune", "use_lora": strategy == "lora",
                        "char_ngrams": 0 if strategy != "head" else r.setting("char_ngrams", 0)}
            if strategy == "lora":
                settings["learning_rate"] = 1e-3
            out.append(("strategy", f"{current}→{strategy}", r.with_settings(**settings)))
        return out

    # ------------------------------------------------------------------------------------------------ training

    def _config(self, recipe: Recipe) -> Any:
        """The recipe's config. A tagger's own defaults count its epochs against the data they were set for
        (``calibrated_examples``), so the release, which adds the validation half, trains as many steps as the
        candidate it was chosen by."""
        from pioneer.training.factory import config_for

        return config_for(self.kind, {"seed": self.seed, "progress_bar": False, **self.settings, **dict(recipe.settings)})

    def _pool(self, recipe: Recipe, *, extra: Sequence[Sourced] = (),
              extra_disputed: frozenset[str] = frozenset()) -> list[Sourced]:
        pool = [i for i in self._items if source_kind(i.source) in recipe.sources]
        if recipe.clean:
            if self._disputed is None:
                self._disputed = disputed_teacher_labels(self._items, self.kind)
            pool = [i for i in pool if i.example.id not in self._disputed]
        pool += [i for i in extra if source_kind(i.source) in recipe.sources
                 and not (recipe.clean and i.example.id in extra_disputed)]
        if recipe.balance:
            pool = balance(pool)
        if self.kind == "generation" and self.final_answer is not None and not recipe.worked:
            pool = [self._plain(i) for i in pool]
        return pool

    def _plain(self, item: Sourced) -> Sourced:
        """``item`` with its target cut to the final answer (plain supervision); the provenance stays."""
        final = self.final_answer(item.example.target) if item.example.target and self.final_answer else None
        if final is None or final == item.example.target:
            return item
        return Sourced(dataclasses.replace(item.example, target=final), item.source)

    def _attempt(
        self, n: int, iteration: int, parent: Attempt | None, proposal: Proposal, validation: Sequence[Example]
    ) -> Attempt:
        change_kind, change, recipe = proposal
        attempt = Attempt(id=n, iteration=iteration, parent=None if parent is None else parent.id,
                          change_kind=change_kind, change=change, recipe=recipe)
        started = time.monotonic()
        try:
            train = [i.example for i in self._pool(recipe)]
            attempt.train_size = len(train)
            adapter: TaskAdapter = adapter_for(self.kind, self._config(recipe))
            adapter.fit(train)
            evaluation = adapter.evaluate(validation)
            attempt.score = evaluation.metric
            attempt.evidence = item_evidence(self.kind, evaluation, validation)
            attempt.likelihood = _likelihood(adapter, validation)
        except (ValueError, RuntimeError) as exc:  # one bad candidate (no data, a config clash) ends only itself
            attempt.error = str(exc)[:300]
            log.warning("candidate failed", extra={"recipe": recipe.describe(), "error": attempt.error})
        attempt.seconds = time.monotonic() - started
        return attempt


def _best(attempts: Sequence[Attempt]) -> Attempt | None:
    """The recipe the search stands on: the first scored attempt (the defaults), replaced in turn by each later
    attempt that is clearly better on the validation half.

    Clearly better: a metric gain beyond one standard error of the paired gain (a bootstrap over the
    validation examples; :func:`~pioneer.significance.clearly_better`). Where the metric cannot tell
    two apart, the validation log-likelihood of the labels decides where there is one (classification: 75
    examples score in steps of 1.3 points, the likelihood still ranks them; CLINC150 banking, 20%-wrong teacher:
    cleaned and raw data tie at 0.933, the likelihood ranks the cleaned one first, 0.944 against 0.882 on the
    test split); otherwise the incumbent, the earlier and simpler recipe, stays. Without this rule 21
    validation sentences chose an entity tagger's learning rate by noise.
    """
    best: Attempt | None = None
    for attempt in attempts:
        if attempt.score is None:
            continue
        if best is None or _beats(attempt, best):
            best = attempt
    return best


def _beats(new: Attempt, old: Attempt) -> bool:
    verdict = clearly_better(new.evidence, old.evidence, new.score or 0.0, old.score or 0.0)
    if verdict:
        return verdict > 0
    return new.likelihood is not None and old.likelihood is not None and new.likelihood > old.likelihood


def _likelihood(adapter: TaskAdapter, validation: Sequence[Example]) -> float | None:
    """Mean log-probability the adapter gives each validation example's label (None where it has no
    probabilities)."""
    labels = getattr(adapter, "labels_", None)
    if not labels or not hasattr(adapter, "predict_proba") or not validation:
        return None
    rows = adapter.predict_proba([e.text for e in validation], use_cache=True)
    total = 0.0
    for example, row in zip(validation, rows, strict=True):
        p = float(row[labels.index(example.label)]) if example.label in labels else 0.0
        total += math.log(max(p, 1e-9))  # a label the model never saw costs as much as a confident miss
    return total / len(validation)

"""``Retrainer``: serve one retrain request end to end: diagnose, build a curriculum, train candidates,
gate the best, release or reject. Publishing is not its job: it returns the events to publish.

The steps, each done by its own component:

1. **replay check**: if the registry holds a decision for this request id, re-apply it (idempotent) and
   return it: no retraining, no second alias move, the same event ids. A request naming a version production
   has since moved past is *superseded*: rejected without training (its failures describe a model no longer
   served; the monitor asks again if the new one fails too);
2. **diagnosis** (:class:`~pioneer.diagnosis.Diagnoser`) of the request's patterns, with their traces from the
   :class:`~pioneer.traces.TraceStore`; no fixable pattern ends in a rejection that says why;
3. **data** (:func:`~pioneer.retrain.datasets.prepare`): gold / validation / gate splits, grown gate set. When
   production is weak (its score below ``coverage_below``: the reference system's "data problem" band),
   the most recent failures *outside* the target patterns are diagnosed too, and the fixable ones become
   *coverage*: training material for the recipes of that band (a tagger failing on two sentences in three has
   more to learn than any handful of patterns holds);
4. **iterations** (at most ``budget.max_iterations``): the :class:`RecipeSearch` proposes at least two recipes;
   for each, the :class:`~pioneer.curriculum.CurriculumBuilder` builds the curriculum and a fresh adapter
   trains on base data + curriculum, from the base model (or, for a warm-start recipe, from the production
   weights), then is scored on validation. A warm-started candidate, and any fit of an adapter that
   ``blends_from_base``, is also offered *blended* back toward production at each of ``blend_weights``
   (:meth:`~pioneer.training.TaskAdapter.blend`): a retrained tagger that lifted gate F1 from 0.59 to 0.90 but
   broke 12 sentences broke 4 at weight 0.5, still at 0.85.
   The candidates are gated (:mod:`pioneer.retrain.gating`) on the gate set and on the regression set R
   (reserved traffic and earlier sets, never trained on; :mod:`pioneer.retrain.regression_set`) by the
   :class:`~pioneer.gates.RegressionGate` against production: without R the first in the gating order that
   passes; with R every candidate is screened, and R's certifying half judges the one expected to gain the most,
   where the count ε and the 95% Wilson bound on the flip rate must both hold
   (:class:`~pioneer.gates.FlipContract`). Below
   ``coverage_below`` the target patterns' fix rate is checked pooled over all of them (the retrain rebuilds the
   data rather than patching each pattern);
5. **decision**: the judged candidate is registered (content hash; rejected ones too, for audit), the decision
   record is written, and only then, for a pass, the alias is moved (compare-and-set, keyed by request id).

Production's *score*, which picks the band (coverage, the recipes, pooled pattern checks), is decided per request
from the labels' sources (:mod:`pioneer.retrain.trust`): when they are trusted, its accuracy on its own labelled
traffic once that holds ``min_live_traces`` traces (the gate set holds back passing traffic to protect, so its
score runs high: a CLINC150 head right on 90% of its traffic scored 0.95 on its gate set, and retrained
surgically), and every fixable failure is coverage; otherwise its gate-set score, and coverage only below the
data band. ``band_score`` and ``coverage_below`` fix either choice instead.

Nothing ends silently: every path returns a decision with a release, a rejection or a ``failed`` progress event.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from pioneer.curriculum.builder import CurriculumBuilder
from pioneer.curriculum.teacher import Teacher, augment
from pioneer.diagnosis.diagnoser import Diagnoser
from pioneer.diagnosis.report import DiagnosisReport
from pioneer.events import (
    GateCheck,
    GateReport,
    LabeledTrace,
    PatternRef,
    RetrainRequest,
)
from pioneer.gates.parity import serving_parity
from pioneer.gates.regression import FLIP_CHECKS, RegressionGate, rejected_note
from pioneer.registry import (
    Registry,
    RegistryError,
    StoredEvaluation,
    VersionInfo,
    VersionManifest,
)
from pioneer.retrain.commit import serve_once
from pioneer.retrain.datasets import RetrainData, prepare, training_set, unique_examples
from pioneer.retrain.decision import ReleaseDecision, build_decision, decision_metrics
from pioneer.retrain.gating import (
    Candidate,
    Gating,
    Judged,
    gate_iteration,
    regression_correct,
)
from pioneer.retrain.progress import ProgressReporter, ProgressSink
from pioneer.retrain.recipes import Recipe, RecipeSearch, config_to_dict
from pioneer.retrain.regression_set import RegressionSetBuilder
from pioneer.retrain.release import rejection_event
from pioneer.retrain.trust import BandChoice, choose_band, label_trust
from pioneer.traces.examples import trace_to_example
from pioneer.traces.store import TraceStore
from pioneer.training.base import BaseTrainConfig, Evaluation, Example, TaskAdapter
from pioneer.training.interpolation import WeightSearch
from pioneer.trigger import FAILURES_PREFIX

log = logging.getLogger(__name__)

BAND_SCORES = ("auto", "gate", "live")
MAX_PASSES_BY_TASK = {"classification": 20_000, "entity_extraction": 2_000, "generation": 2_000}

AdapterFactory = Callable[[str, BaseTrainConfig | None], TaskAdapter]
"""``factory(task, config) -> untrained adapter`` (default: ``pioneer.training.adapter_for``)."""


def default_factory(task: str, config: BaseTrainConfig | None) -> TaskAdapter:
    from pioneer.training import adapter_for

    return adapter_for(task, config)


@dataclasses.dataclass(slots=True)
class _Evidence:
    """What a request's diagnosis found, and the data it was judged against."""

    report: DiagnosisReport
    members: list[LabeledTrace]
    passes: list[LabeledTrace]
    trusted: list[Example]
    band: BandChoice


def _only_progress_failed(candidate: Candidate) -> bool:
    """Whether the gate refused ``candidate`` on the progress of the failures as a whole and on nothing else."""
    failed = (candidate.verdict or {}).get("failed") or []
    return bool(failed) and all(name.startswith(f"pattern_fix_rate:{FAILURES_PREFIX}") for name in failed)


def _blends_toward_production(candidate: Candidate) -> bool:
    """Whether the line from production to ``candidate`` is worth searching: a warm-started fit continued from
    production's weights, or any fit of an adapter whose line from a fit of the base model holds."""
    adapter = candidate.adapter
    return adapter.warm_starts and (candidate.recipe.warm_start or adapter.blends_from_base)


def _tried(candidate: Candidate, iteration: int, *, chosen: bool) -> dict[str, Any]:
    """One line of the decision record's list of candidates."""
    return {
        "iteration": iteration,
        "recipe": candidate.recipe.to_dict(),
        "validation": candidate.score,
        "seconds": round(candidate.seconds, 2),
        "curriculum": candidate.curriculum.summary(),
        "chosen": chosen,
        "gate": candidate.verdict,
    }


class Retrainer:
    """Serves retrain requests. See the module docstring.

    Parameters
    ----------
    gate
        The release gate (its thresholds decide; it never promotes).
    diagnoser, builder, search
        The diagnosis, curriculum and recipe components (defaults: their default constructions).
    factory
        Builds an untrained adapter for a task and config.
    teacher
        Optional teacher for paraphrase augmentation of gold examples (off when None).
    alias
        The alias a release moves.
    max_passes
        Most recent passing traces used for replay, hard negatives and the regression set (None: by task kind,
        what one retrain of that kind affords: a head refits on 20,000 in seconds, a tagger or generator on 2,000
        in minutes).
    max_gate_passes
        Most passing traces held out into the gate set (the rest are training material).
    checkpoint_depth
        Earlier checkpoints (production, its parent, ...) whose evaluation sets the ratchet checks.
    coverage_below
        Production score below which recent failures outside the target patterns are diagnosed and offered
        as coverage data (0 turns coverage off; None: 1 when the labels are trusted, the data band otherwise).
    max_coverage_failures
        Most recent failures considered for coverage.
    blend_weights
        Weights at which each candidate that can blend is also blended back toward production (empty: none).
    band_score
        What production's score is: ``"gate"`` (its gate-set score), ``"live"`` (its accuracy on its labelled
        traffic, when there are ``min_live_traces`` traces of it; the gate score otherwise) or ``"auto"`` (live
        when the labels are trusted).
    min_live_traces
        Labelled traces of the production version needed before its live accuracy is used.
    regression
        Builds the regression set R (reserved share of passing traffic, earlier sets; caps per task kind).
    bcwi
        Searches, for each candidate that can blend, the largest weight toward it whose blend with production keeps
        the flip contract on R (BCWI); None turns the search off (the fixed ``blend_weights`` remain).
    bcwi_tasks
        Task kinds the search runs for: each step evaluates the gate set and R's search half once (seconds for a
        head on cached embeddings or a tagger, against a minute for a tagger's fit; a generator decodes every
        example).
    """

    def __init__(
        self,
        *,
        gate: RegressionGate | None = None,
        diagnoser: Diagnoser | None = None,
        builder: CurriculumBuilder | None = None,
        search: RecipeSearch | None = None,
        factory: AdapterFactory | None = None,
        teacher: Teacher | None = None,
        alias: str = "production",
        max_passes: int | None = None,
        max_gate_passes: int = 200,
        checkpoint_depth: int = 2,
        coverage_below: float | None = None,
        max_coverage_failures: int = 500,
        blend_weights: Sequence[float] = (0.75, 0.6, 0.45, 0.3, 0.15),
        band_score: str = "auto",
        min_live_traces: int = 200,
        regression: RegressionSetBuilder | None = None,
        bcwi: WeightSearch | None = WeightSearch(),  # noqa: B008 - frozen, so sharing the default is safe
        bcwi_tasks: Sequence[str] = ("classification", "entity_extraction"),
    ) -> None:
        if any(not 0.0 < w < 1.0 for w in blend_weights):
            raise ValueError(f"blend_weights must lie strictly between 0 and 1, got {blend_weights!r}")
        if coverage_below is not None and not 0.0 <= coverage_below <= 1.0:
            raise ValueError(f"coverage_below must be between 0 and 1, got {coverage_below!r}")
        if band_score not in BAND_SCORES:
            raise ValueError(f"band_score must be one of {', '.join(BAND_SCORES)}, got {band_score!r}")
        if min_live_traces < 1:
            raise ValueError(f"min_live_traces must be >= 1, got {min_live_traces!r}")
        if max_coverage_failures < 0:
            raise ValueError(f"max_coverage_failures must be >= 0, got {max_coverage_failures!r}")
        self.gate = gate or RegressionGate()
        self.diagnoser = diagnoser or Diagnoser()
        self.builder = builder or CurriculumBuilder()
        self.search = search or RecipeSearch()
        self.factory = factory or default_factory
        self.teacher = teacher
        self.alias = alias
        self.max_passes = max_passes
        self.max_gate_passes = max_gate_passes
        self.checkpoint_depth = checkpoint_depth
        self.coverage_below = coverage_below
        self.max_coverage_failures = max_coverage_failures
        self.blend_weights = tuple(blend_weights)
        self.band_score = band_score
        self.min_live_traces = min_live_traces
        self.regression = regression or RegressionSetBuilder()
        self.bcwi = bcwi
        self.bcwi_tasks = tuple(bcwi_tasks)

    def __repr__(self) -> str:
        return (
            f"Retrainer(gate={self.gate!r}, diagnoser={self.diagnoser!r}, builder={self.builder!r},"
            f" search={self.search!r}, teacher={self.teacher!r}, alias={self.alias!r})"
        )

    # ------------------------------------------------------------------------------------------- entry point

    def run(
        self, request: RetrainRequest, *, registry: Registry, traces: TraceStore, progress: ProgressSink | None = None
    ) -> ReleaseDecision:
        """Serve ``request``; idempotent by ``request.request_id``. Never raises for a failed retrain."""

        def decide(reporter: ProgressReporter, started: float) -> ReleaseDecision:
            try:
                return self._decide(request, registry=registry, traces=traces, reporter=reporter, started=started)
            except Exception as exc:  # a bug or a broken input must still end in an event, not in silence
                log.exception("retrain failed", extra={"request_id": request.request_id, "model": request.model.name})
                return self._failed(request, registry, reporter, started, exc)

        return serve_once(registry, request.model.name, request.request_id, progress, decide)

    def _failed(
        self, request: RetrainRequest, registry: Registry, reporter: ProgressReporter, started: float, exc: Exception
    ) -> ReleaseDecision:
        """The decision of a retrain that raised: a ``failed`` progress event saying why, nothing released."""
        model = request.model.name
        final = reporter.emit("failed", message=f"{type(exc).__name__}: {exc}"[:2000], send=False)
        return ReleaseDecision(
            request_id=request.request_id,
            model=model,
            outcome="failed",
            version=None,
            production_version=registry.get_alias(model, self.alias),
            gate_report=None,
            events=[final],
            alias_name=self.alias,
            wall_seconds=time.monotonic() - started,
        )

    # ------------------------------------------------------------------------------------------- the loop

    def _decide(
        self,
        request: RetrainRequest,
        *,
        registry: Registry,
        traces: TraceStore,
        reporter: ProgressReporter,
        started: float,
    ) -> ReleaseDecision:
        model = request.model.name
        reporter.emit(
            "queued", message=f"{len(request.patterns)} patterns; budget {request.budget.max_iterations} iterations"
        )
        production_version = registry.get_alias(model, self.alias)
        if production_version is None:
            raise RegistryError(f"model {model!r} has no {self.alias!r} version to retrain", "RESOURCE_DOES_NOT_EXIST")
        if request.model.version != production_version:
            if _descends_from(registry, model, production_version, request.model.version):
                return self._superseded(request, production_version, started)
            log.warning(
                "request names another version than production; retraining against production",
                extra={"requested": request.model.version, "production": production_version},
            )
        manifest = registry.get_manifest(model, production_version)
        production = registry.load_adapter(model, production_version)
        evidence = self._diagnose(request, manifest, production, registry, traces, reporter)
        if not evidence.report.fixable:
            return self._unfixable(request, evidence.report, production_version, started)
        data, live = self._retrain_data(request, manifest, production, registry, traces, evidence, reporter)
        augmented = augment(data.task, data.gold, self.teacher) if self.teacher is not None else []
        baseline = production.evaluate(data.gate_set)
        on_r = regression_correct(production, baseline, data.regression_examples())
        best, evaluation, gate_report, tried = self._search(
            request, data, augmented, production, (baseline, on_r), production_version, reporter, started,
            score=live if live is not None else baseline.metric, coverage_below=evidence.band.coverage_below,
        )
        gate_report = _with_serving_parity(gate_report, best.adapter, data.gate_set)
        metrics = decision_metrics(
            evaluation, baseline, gate_report, gate_examples=len(data.gate_set), gold_examples=len(data.gold),
            coverage_examples=len(data.coverage) if best.recipe.coverage else 0,
        )
        if best.flip_verdict is not None:
            metrics.update(best.flip_verdict.metrics())
        metrics.update({c.name: c.observed for c in gate_report.checks if c.name == "serving_parity"})
        reporter.emit("releasing" if gate_report.passed else "gating", candidate=best.recipe.name, metrics=metrics)
        manifest_new = self._register(registry, model, best, evaluation, gate_report, data, manifest, metrics, request)
        return build_decision(
            request.request_id, model, manifest_new, production_version, gate_report, metrics, alias=self.alias,
            diagnosis=evidence.report, curriculum=best.curriculum, tried=tried, started=started,
            artifact_uri=registry.version_path(model, manifest_new.version).as_uri(), mode="pioneer",
        )

    def _diagnose(
        self, request: RetrainRequest, manifest: VersionManifest, production: TaskAdapter, registry: Registry,
        traces: TraceStore, reporter: ProgressReporter,
    ) -> _Evidence:
        """The request's failures diagnosed against what is trusted, and how production's band is read."""
        model, version = manifest.model, manifest.version
        reporter.emit("diagnosing", version=version)
        pattern_traces = [(ref, traces.query(model=model, pattern_id=ref.pattern_id)) for ref in request.patterns]
        max_passes = self.max_passes or MAX_PASSES_BY_TASK.get(manifest.task, MAX_PASSES_BY_TASK["generation"])
        passes = self.diagnoser.confirmed(traces.query(model=model, outcome="pass", limit=max_passes))
        # Trusted: what production learned from, and passing traffic (its answers confirmed by the labels).
        trusted = registry.get_dataset(model, manifest.training_data) if manifest.training_data else []
        trusted += [e for e in map(trace_to_example, passes) if e is not None]
        report = self.diagnoser.diagnose(
            manifest.task, pattern_traces, trusted, production=production, model=model, version=version,
            request_id=request.request_id,
        )
        reporter.emit("diagnosing", message=report.summary())
        band = choose_band(label_trust(traces, model, version), band_score=self.band_score,
                           coverage_below=self.coverage_below, min_live_traces=self.min_live_traces)
        reporter.emit("diagnosing", message=band.evidence)
        members = [t for _, ts in pattern_traces for t in ts]
        return _Evidence(report=report, members=members, passes=passes, trusted=trusted, band=band)

    def _retrain_data(
        self, request: RetrainRequest, manifest: VersionManifest, production: TaskAdapter, registry: Registry,
        traces: TraceStore, evidence: _Evidence, reporter: ProgressReporter,
    ) -> tuple[RetrainData, float | None]:
        """The retrain's data sets, and production's live score where its labels are trusted (else None)."""
        model = manifest.model
        live = evidence.band.live
        # Coverage is part of the data, so it is decided before this retrain's gate set exists: on production's
        # gate-set score as registered. The search reads the new gate set's (held-out pattern failures included).
        stored = registry.get_evaluation(model, manifest.version, "gate") if live is None else None
        coverage = self._coverage(
            manifest, traces, production, evidence.trusted, request.request_id,
            exclude={t.request_id for t in evidence.members},
            score=live if stored is None else stored.metric, coverage_below=evidence.band.coverage_below,
        )
        reserved = self.diagnoser.confirmed(traces.query(
            model=model, outcome="pass", reserved=True, reserved_share=self.regression.share,
            limit=self.regression.max_scan,
        ))
        data = prepare(
            registry, manifest, evidence.report, evidence.members, evidence.passes, coverage=coverage,
            reserved=reserved, regression=self.regression, max_gate_passes=self.max_gate_passes,
            checkpoint_depth=self.checkpoint_depth,
        )
        return data, live

    def _coverage(
        self,
        manifest: VersionManifest,
        traces: TraceStore,
        production: TaskAdapter,
        trusted: Sequence[Example],
        request_id: str,
        *,
        exclude: set[str],
        score: float | None,
        coverage_below: float,
    ) -> list[LabeledTrace]:
        """Recent fixable failures outside the target patterns, when production is weak enough to need them.

        They go through the same diagnosis as a pattern's failures (label noise, injections, out of scope and
        already-fixed inputs are left out), so coverage never trains on what a pattern's curriculum would not.
        A diagnosis of their own, not one call with the patterns': the diagnoser judges each failure against every
        trace it is given (neighbours, new-label counts), so pooling the two would change the patterns' verdicts.
        """
        model, version = manifest.model, manifest.version
        if not self.max_coverage_failures or score is None or score >= coverage_below:
            return []
        recent = [
            t
            for t in traces.query(model=model, outcome="fail", limit=self.max_coverage_failures + len(exclude))
            if t.request_id not in exclude
        ][-self.max_coverage_failures :]
        if not recent:
            return []
        ref = PatternRef(pattern_id="coverage", name="recent failures outside the target patterns")
        report = self.diagnoser.diagnose(
            manifest.task, [(ref, recent)], trusted, production=production, model=model, version=version,
            request_id=request_id,
        )
        verdicts = report.patterns[0].verdicts
        kept = [t for t in recent if verdicts.get(t.request_id) == "fixable"]
        log.info("coverage failures", extra={"model": model, "recent": len(recent), "fixable": len(kept),
                                              "production_score": round(score, 4)})
        return kept

    def _search(
        self,
        request: RetrainRequest,
        data: RetrainData,
        augmented: Sequence[Example],
        production: TaskAdapter,
        baselines: tuple[Evaluation, dict[str, bool] | None],
        production_version: str,
        reporter: ProgressReporter,
        started: float,
        *,
        score: float,
        coverage_below: float,
    ) -> tuple[Candidate, Evaluation, GateReport, list[dict[str, Any]]]:
        """Iterate: propose recipes, train each, gate them best-validation first; stop at a pass or the budget's end.
        ``baselines`` are production's gate-set evaluation and its results on R; ``score`` is production's, which
        picks the band.

        Returns the passing candidate (else the last iteration's best by validation), its gate-set evaluation and
        report, and every candidate tried.
        """
        gating = Gating(self.gate, data, baselines, production_version, pooled=score < coverage_below)
        tried: list[dict[str, Any]] = []
        judged: Judged | None = None
        passed = False
        unproven: list[tuple[int, Candidate]] = []  # (iteration, candidate) refused on progress alone
        n_candidates = max(2, request.budget.max_candidates)
        if request.budget.max_candidates < 2:
            log.warning("budget allows fewer than two candidates; trying two (one recipe cannot be compared)")
        for iteration in range(request.budget.max_iterations):
            if iteration > 0 and _over_budget(request, started):
                reporter.emit("training", iteration=iteration, message="time budget spent; stopping")
                break
            recipes = self.search.propose(
                iteration,
                config=getattr(production, "config", None),
                production_score=score,
                last=None if judged is None else judged[0].recipe,
                last_report=None if judged is None else judged[2],
                candidates=n_candidates,
                warm_start=production.warm_starts,
                coverage=bool(data.coverage),
            )
            trained = [self._train(recipe, data, augmented, production, iteration, reporter) for recipe in recipes]
            candidates = [
                *trained,
                *(b for c in trained for b in self._blends(c, production, data, iteration, reporter)),
                *(b for c in trained for b in self._bcwi(c, production, data, baselines, iteration, reporter)),
            ]
            judged, passed = gate_iteration(candidates, gating, iteration, reporter, judged)
            tried += [_tried(c, iteration, chosen=c is judged[0]) for c in candidates]
            if passed:
                break
            unproven += [(iteration, c) for c in candidates if _only_progress_failed(c)]
        if not passed:
            judged, tried = self._unproven_progress(unproven, gating, iteration, reporter, judged, tried)
        assert judged is not None
        return (*judged, tried)

    def _unproven_progress(
        self, unproven: list[tuple[int, Candidate]], gating: Gating, iteration: int, reporter: ProgressReporter,
        judged: Judged | None, tried: list[dict[str, Any]],
    ) -> tuple[Judged | None, list[dict[str, Any]]]:
        """When the whole search found no step that fixes *surely* more than it breaks, the candidates of every
        iteration that failed nothing else are gated again asking only that they fix more than they break: near
        its ceiling a step fixes a point or two, which the gate set cannot prove, and the flip checks still bound
        what it breaks (docs/deployments.md, "Progress a gate set cannot prove")."""
        if not unproven or self.gate.progress_confidence is None:
            return judged, tried
        reporter.emit("gating", iteration=iteration, message=f"no step fixed surely more than it broke; gating "
                      f"{len(unproven)} candidates by their counts")
        candidates = [c for _, c in unproven]
        fallback, passed = gate_iteration(candidates, gating.without_progress_proof(), iteration, reporter, None)
        if not passed:
            return judged, tried
        note = (f"No candidate of this search fixed surely more than it broke (sign test at "
                f"{self.gate.progress_confidence:.0%}); {len(unproven)} that failed nothing else were judged by their "
                "counts, and this one fixes more than it breaks.")
        chosen, evaluation, report = fallback
        report = dataclasses.replace(report, notes=[*report.notes, note])
        regated = {(it, c.recipe.name): _tried(c, it, chosen=c is chosen) for it, c in unproven}
        tried = [regated.get((t["iteration"], t["recipe"]["name"]), {**t, "chosen": False}) for t in tried]
        return (chosen, evaluation, report), tried

    def _train(
        self,
        recipe: Recipe,
        data: RetrainData,
        augmented: Sequence[Example],
        production: TaskAdapter,
        iteration: int,
        reporter: ProgressReporter,
    ) -> Candidate:
        began = time.monotonic()
        curriculum = self.builder.clone(
            replay_share=recipe.replay_share, hard_negatives_per_gold=recipe.hard_negatives_per_gold
        ).build(
            data.task,
            data.gold,
            data.pool,
            confusions=data.confusions,
            replay=data.replay,
            augmented=augmented,
            exclude=data.evaluation_sets(),
        )
        reporter.emit("curriculum", iteration=iteration, candidate=recipe.name, metrics=_numbers(curriculum.summary()))
        extra = [*(data.replay if recipe.traffic else ()), *(data.coverage if recipe.coverage else ())]
        train = training_set(data.base_train, curriculum, recipe.curriculum_repeat, extra)
        if data.regression is not None:  # R is never trained on; every builder excludes it, this makes sure
            never = data.regression.never_train()
            leaked = [e.id for e in train if e.id.split("#", 1)[0] in never]
            if leaked:
                log.error("regression-set examples reached a training set; dropped", extra={"ids": leaked[:10]})
                train = [e for e in train if e.id.split("#", 1)[0] not in never]
        adapter = self.factory(data.task, recipe.apply(getattr(production, "config", None)))
        adapter.fit(
            train,
            validation=data.validation or None,
            progress=reporter.training_callback(iteration, recipe.name),
            start_from=production if recipe.warm_start and adapter.warm_starts else None,
        )
        score = validation_score(adapter, data.validation)
        reporter.emit("evaluating", iteration=iteration, candidate=recipe.name, metrics={"validation": score})
        return Candidate(recipe, adapter, curriculum, train, score, time.monotonic() - began)

    def _blends(
        self, candidate: Candidate, production: TaskAdapter, data: RetrainData, iteration: int,
        reporter: ProgressReporter,
    ) -> list[Candidate]:
        """``candidate`` blended toward production at each of ``blend_weights``, where it can blend."""
        if not _blends_toward_production(candidate):
            return []
        blends = []
        for weight in self.blend_weights:
            began = time.monotonic()
            recipe = dataclasses.replace(candidate.recipe, name=f"{candidate.recipe.name}@{weight:g}", blend=weight)
            try:
                adapter = candidate.adapter.blend(production, weight)
            except ValueError as exc:  # the fit fell back to the base model: nothing to blend toward
                log.warning("candidate not blended", extra={"candidate": candidate.recipe.name, "why": str(exc)})
                return []
            score = adapter.evaluate(data.validation).metric if data.validation else 0.0
            reporter.emit("evaluating", iteration=iteration, candidate=recipe.name, metrics={"validation": score})
            seconds = candidate.seconds + time.monotonic() - began
            blends.append(Candidate(recipe, adapter, candidate.curriculum, candidate.train, score, seconds))
        return blends

    def _bcwi(
        self, candidate: Candidate, production: TaskAdapter, data: RetrainData,
        baselines: tuple[Evaluation, dict[str, bool] | None], iteration: int, reporter: ProgressReporter,
    ) -> list[Candidate]:
        """``candidate`` blended toward production at the largest weight found whose blend keeps both flip budgets
        it can see: ε on the gate set and the contract on R's search half (none when the candidate keeps them as
        it is, or no weight does)."""
        on_gate, on_r = baselines
        if (self.bcwi is None or data.task not in self.bcwi_tasks or on_r is None
                or not _blends_toward_production(candidate)):
            return []
        began = time.monotonic()
        examples = data.regression_search()  # the search never reads the half that certifies
        baseline_r = {e.id: on_r[e.id] for e in examples if e.id in on_r}

        def blend_at(weight: float) -> TaskAdapter:
            return candidate.adapter if weight >= 1.0 else candidate.adapter.blend(production, weight)

        def accept(adapter: TaskAdapter) -> bool:
            if not self._keeps_flip_checks(adapter.evaluate(data.gate_set), on_gate, data):
                return False
            got = adapter.evaluate(examples).correct_by_id()
            verdict = self.gate.judge_regression(baseline_r, got)
            if verdict is not None:
                return verdict.passed
            flips = sum(1 for i, ok in baseline_r.items() if ok and not got.get(i, False))
            return self.gate.epsilon is None or flips <= self.gate.epsilon

        try:
            found = self.bcwi.search(blend_at, accept)
        except ValueError as exc:  # the fit fell back to the base model: nothing to blend toward
            log.warning("candidate not searched", extra={"candidate": candidate.recipe.name, "why": str(exc)})
            return []
        if found is None:
            return []
        weight, adapter = found
        recipe = dataclasses.replace(candidate.recipe, name=f"{candidate.recipe.name}@bcwi{weight:.3g}", blend=weight)
        score = adapter.evaluate(data.validation).metric if data.validation else 0.0
        reporter.emit("evaluating", iteration=iteration, candidate=recipe.name, metrics={"validation": score})
        seconds = candidate.seconds + time.monotonic() - began
        return [Candidate(recipe, adapter, candidate.curriculum, candidate.train, score, seconds)]

    def _keeps_flip_checks(self, evaluation: Evaluation, on_gate: Evaluation, data: RetrainData) -> bool:
        """Whether a blend's gate-set ``evaluation`` keeps every flip budget the gate applies there: ε against
        production and the ratchet against each earlier checkpoint (a weight past either is never released)."""
        report = self.gate.evaluate(evaluation, baseline=on_gate, checkpoints=data.checkpoints)
        return all(c.passed for c in report.checks if c.name.split(":", 1)[0] in FLIP_CHECKS)

    def _register(
        self,
        registry: Registry,
        model: str,
        candidate: Candidate,
        evaluation: Evaluation,
        report: GateReport,
        data: RetrainData,
        parent: VersionManifest,
        metrics: dict[str, float],
        request: RetrainRequest,
    ) -> VersionManifest:
        gate_hash = registry.put_dataset(model, data.gate_set)
        eval_sets = {"gate": gate_hash, "validation": registry.put_dataset(model, data.validation)}
        if data.regression_examples():  # the next retrain's R starts from this one: R only grows
            eval_sets["regression"] = registry.put_dataset(model, data.regression_examples())
        info = VersionInfo(
            parent=parent.version,
            base_model=parent.base_model,
            training_data=registry.put_dataset(model, unique_examples(candidate.train)),
            eval_sets=eval_sets,
            recipe={
                "config": config_to_dict(getattr(candidate.adapter, "config", None)),
                "recipe": candidate.recipe.to_dict(),
                "curriculum": registry.put_dataset(model, candidate.curriculum.examples()),
                "curriculum_summary": candidate.curriculum.summary(),
            },
            metrics=metrics,
            gate_report=report,
            request_id=request.request_id,
            mode="pioneer",
        )
        stored = StoredEvaluation.of(gate_hash, evaluation)
        return registry.register_version(model, candidate.adapter, info, evaluations={"gate": stored})

    def _superseded(self, request: RetrainRequest, production_version: str, started: float) -> ReleaseDecision:
        """A request made against a version that production has since moved past: its failures describe a model
        no longer served. Retraining for it would redo work; the monitor asks again if the new version fails."""
        check = GateCheck(
            name="request_current",
            passed=False,
            observed=0.0,
            threshold=1.0,
            detail=f"superseded: production moved from {request.model.version} to {production_version} since this"
            " request; the monitor requests again if the new version fails on these patterns.",
        )
        return self._nothing_to_train(request, check, production_version, started)

    def _unfixable(
        self, request: RetrainRequest, report: DiagnosisReport, production_version: str, started: float
    ) -> ReleaseDecision:
        check = GateCheck(
            name="fixable_patterns",
            passed=False,
            observed=0.0,
            threshold=1.0,
            detail="no target pattern is fixable by training: "
            + "; ".join(f"{p.pattern_id}: {p.reason}" for p in report.patterns),
        )
        return self._nothing_to_train(request, check, production_version, started, report)

    def _nothing_to_train(
        self,
        request: RetrainRequest,
        check: GateCheck,
        production_version: str,
        started: float,
        report: DiagnosisReport | None = None,
    ) -> ReleaseDecision:
        gate_report = GateReport(
            passed=False,
            baseline_version=production_version,
            candidate_version=None,
            checks=[check],
            notes=["Nothing was trained.", rejected_note(production_version)],
        )
        now = time.time()
        rejection = rejection_event(
            request.model.name,
            version=None,
            production_version=production_version,
            report=gate_report,
            request_id=request.request_id,
            timestamp=now,
        )
        return ReleaseDecision(
            request_id=request.request_id,
            model=request.model.name,
            outcome="rejected",
            version=None,
            production_version=production_version,
            gate_report=gate_report,
            events=[rejection],
            alias_name=self.alias,
            diagnosis=None if report is None else report.to_dict(),
            wall_seconds=time.monotonic() - started,
        )


def _descends_from(registry: Registry, model: str, version: str, ancestor: str, depth: int = 64) -> bool:
    """Whether ``ancestor`` is among ``version``'s parents (production moved forward from it, not back)."""
    current = registry.get_manifest(model, version).parent
    for _ in range(depth):
        if current is None:
            return False
        if current == ancestor:
            return True
        current = registry.get_manifest(model, current).parent
    return False


def validation_score(adapter: TaskAdapter, validation: Sequence[Example]) -> float:
    """The headline metric of a just-fitted ``adapter`` on ``validation`` (0.0 without validation examples).

    ``fit`` was given the same examples and already scored them (``fit_stats_["validation_metric"]``), so that
    score is reused rather than predicting the whole set a second time: for a generator, evaluation is one greedy
    decode per example, and a second pass cost as much as a tenth of a small retrain on a CPU.
    """
    if not validation:
        return 0.0
    known = getattr(adapter, "fit_stats_", {}).get("validation_metric")
    return float(known) if known is not None else adapter.evaluate(validation).metric


def _with_serving_parity(report: GateReport, adapter: TaskAdapter, gate_set: Sequence[Example]) -> GateReport:
    """A passing report with the serving engine's parity check added (its answers are what users get)."""
    if not report.passed:
        return report
    check = serving_parity(adapter, gate_set)
    if check is None:
        return report
    notes = report.notes if check.passed else [*report.notes, f"Rejected: {check.detail}"]
    return dataclasses.replace(report, checks=[*report.checks, check], passed=check.passed, notes=notes)


def _over_budget(request: RetrainRequest, started: float) -> bool:
    limit = request.budget.max_train_seconds
    return limit is not None and time.monotonic() - started > limit


def _numbers(summary: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}

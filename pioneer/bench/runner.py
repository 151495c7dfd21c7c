"""``AdaptFTRunner``: one scenario end to end: a weak base model, three stages of logs, three methods.

For each stage, each method starts from its own production version (a chain of checkpoints):

- **none**: the base model, never retrained;
- **naive**: every labelled log of the stage added to the training data and released unconditionally
  (:class:`~pioneer.retrain.NaiveRetrainer`), the baseline of the reference benchmark;
- **pioneer**: the stage's logs served by production and labelled, the failures clustered into patterns
  (:mod:`pioneer.bench.patterns`), one retrain request for the patterns served by the real
  :class:`~pioneer.retrain.Retrainer` (diagnosis, curriculum, candidates, regression gate with epsilon = 2).

Both retraining methods see exactly the same logs (the stage's train split); their predictions differ because
their production versions do. After every stage each method's production is scored on the fixed held-out set
(the union of every stage's test split, true outputs); negative flips are counted on it against the method's
previous checkpoint. No Kafka: the library is driven directly, as the trainer worker drives it.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pioneer.bench.judged import JudgeLabeller
from pioneer.bench.logs import BenchLogs, Stage, SyntheticLog
from pioneer.bench.patterns import discover_patterns
from pioneer.bench.scenarios import Scenario
from pioneer.bench.scoring import (
    diagnosis_scores,
    fixed,
    merge_scores,
    negative_flips,
    pattern_recovery,
    trained_counts,
)
from pioneer.diagnosis import Diagnoser
from pioneer.events import Budget, LabeledTrace, ModelRef, PatternRef, RetrainRequest
from pioneer.gates import RegressionGate
from pioneer.registry import FileRegistry
from pioneer.retrain import NaiveRetrainer, Retrainer, train_first_version
from pioneer.traces import TraceStore, labeled_trace
from pioneer.training.base import Evaluation, Example, TaskAdapter

log = logging.getLogger(__name__)

METHODS = ("none", "naive", "pioneer")
STAGE_SECONDS = 100_000.0
"""Event-time gap between stages (traces of stage ``i`` are labelled at ``(i + 1) * STAGE_SECONDS + n``)."""


def nearest_miss(candidates: Sequence[Mapping[str, Any]]) -> str:
    """The gated candidate of a rejected retrain that came closest to passing: fewest failed checks, then fewest
    gate flips; "" when none was gated. The favourite's report says why the best fit failed; this says whether a
    gentler one (a blend toward production) was one check away.

    >>> nearest_miss([{"recipe": {"name": "it0-a"}, "gate": {"passed": False, "failed": ["negative_flips",
    ...   "pattern_fix_rate:p"], "negative_flips": 9.0}}, {"recipe": {"name": "it0-a@0.3"}, "gate": {"passed": False,
    ...   "failed": ["pattern_fix_rate:p"], "negative_flips": 1.0}}, {"recipe": {"name": "it1-a"}, "gate": None}])
    'it0-a@0.3: 1 gate flip, failed pattern_fix_rate:p'
    """
    gated = [c for c in candidates if c.get("gate") and not c["gate"]["passed"]]
    if not gated:
        return ""

    def distance(candidate: Mapping[str, Any]) -> tuple[int, float]:
        flips = candidate["gate"].get("negative_flips")
        return len(candidate["gate"]["failed"]), float("inf") if flips is None else flips

    best = min(gated, key=distance)  # ties: the earlier (usually the less blended) candidate
    flips = best["gate"].get("negative_flips")
    counted = "" if flips is None else f"{int(flips)} gate flip{'' if flips == 1 else 's'}, "
    return f"{best['recipe']['name']}: {counted}failed {', '.join(best['gate']['failed'])}"


def gate_summary(metrics: Mapping[str, float], metric_name: str) -> str:
    """What the judged candidate of a retrain did on its gate set: production's metric and its own, and the answers
    it fixed and broke there; "" when the decision carries no baseline. A refusal of a candidate that fixed dozens
    and broke three reads differently from one that gained nothing.

    >>> gate_summary({"exact_match": 0.626, "baseline_exact_match": 0.237, "positive_flips": 57.0,
    ...               "negative_flips": 3.0}, "exact_match")
    'gate set 0.237 → 0.626, 57 fixed, 3 broken'
    """
    baseline = metrics.get(f"baseline_{metric_name}")
    if baseline is None or metric_name not in metrics:
        return ""
    return (f"gate set {baseline:.3f} → {metrics[metric_name]:.3f}, {int(metrics.get('positive_flips', 0))} fixed, "
            f"{int(metrics.get('negative_flips', 0))} broken")


@dataclass(slots=True, kw_only=True)
class Checkpoint:
    """One method's production version after one stage (stage -1: the base model)."""

    method: str
    stage: int
    version: str | None
    outcome: str
    """``base``, ``released``, ``rejected``, ``no_patterns``, ``failed`` or ``kept`` (method none)."""
    metric: float
    negative_flips: int = 0
    """Held-out examples the previous checkpoint of this method got right and this one gets wrong."""
    fixed: int = 0
    gate_negative_flips: float | None = None
    """Negative flips the release gate counted on its own gate set (pioneer and naive)."""
    regression_negative_flips: float | None = None
    """Negative flips on the regression set R (pioneer), beside the gate set's and the held-out ones."""
    trained: dict[str, int] | None = None
    """Logs per category (clean, fixable, poison) in this version's training set."""
    patterns: int | None = None
    blind_spot: float | None = None
    """The metric on the held-out examples of the scenario's planted blind spot (None: it plants none)."""
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True, kw_only=True)
class ScenarioResult:
    """Everything one scenario measured (its JSON form is the raw result of the benchmark)."""

    scenario: str
    task: str
    description: str
    metric_name: str
    quick: bool
    heldout: int
    stage_counts: list[dict[str, int]]
    poison_rates: list[float]
    checkpoints: list[Checkpoint] = field(default_factory=list)
    diagnosis: list[dict[str, Any]] = field(default_factory=list)
    """Per stage: the pioneer diagnosis scored against the ground truth (plus ``pooled`` at the end)."""
    recovery: list[list[dict[str, Any]]] = field(default_factory=list)
    """Per stage: each planted pattern's recovery by the clustering."""
    judge: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Label-free scenarios: per retraining method, each stage's judge calls and their accuracy against the
    hidden truth (:class:`pioneer.bench.judged.JudgeTally`)."""
    wall_seconds: float = 0.0
    error: str | None = None

    def series(self, method: str) -> list[Checkpoint]:
        return [c for c in self.checkpoints if c.method == method]

    def final(self, method: str) -> float | None:
        chain = self.series(method)
        return chain[-1].metric if chain else None

    @property
    def base(self) -> float | None:
        chain = self.series("none")
        return chain[0].metric if chain else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "task": self.task, "description": self.description,
            "metric_name": self.metric_name, "quick": self.quick, "heldout": self.heldout,
            "stage_counts": self.stage_counts, "poison_rates": self.poison_rates,
            "checkpoints": [c.to_dict() for c in self.checkpoints], "diagnosis": self.diagnosis,
            "recovery": self.recovery, "judge": self.judge, "wall_seconds": self.wall_seconds, "error": self.error,
        }


@dataclass(slots=True)
class _Chain:
    """One method's state across stages."""

    method: str
    registry: FileRegistry
    store: TraceStore
    adapter: TaskAdapter
    version: str
    evaluation: Evaluation
    labeller: JudgeLabeller | None = None
    """Label-free scenarios: who labels the served logs (None: their feedback does)."""


class AdaptFTRunner:
    """Runs scenarios. See the module docstring.

    Parameters
    ----------
    datasets
        Folder holding ``clinc150/``, ``conll2003/``, ``restaurant8k/`` (the shared datasets).
    workdir
        Where registries and trace stores go (one folder per scenario and method).
    quick
        The reduced sizes of every scenario.
    seed
        Seed of the data, the noise and every training run.
    epsilon
        Negative flips the release gate allows (the reference: 2).
    logs_per_stage
        Overrides every scenario's logs per stage (None: the scenario's quick or full size).
    say
        Called with a short line at every step (a progress display).
    checkers
        Let Pioneer's diagnosis use a scenario's answer checker where it has one (False: the neighbour vote alone,
        to measure what the checker adds).
    """

    def __init__(
        self,
        *,
        datasets: Path,
        workdir: Path,
        quick: bool = False,
        seed: int = 0,
        epsilon: int = 2,
        logs_per_stage: int | None = None,
        say: Callable[[str], None] | None = None,
        checkers: bool = True,
    ) -> None:
        self.datasets = Path(datasets)
        self.workdir = Path(workdir).resolve()  # registries hand out file URIs, which need absolute paths
        self.quick = quick
        self.seed = seed
        self.epsilon = epsilon
        self.logs_per_stage = logs_per_stage
        self.say = say or (lambda line: None)
        self.checkers = checkers
        self._embedder: Any = None
        self._blind_ids: set[str] = set()

    def __repr__(self) -> str:
        return f"AdaptFTRunner(datasets={str(self.datasets)!r}, quick={self.quick}, seed={self.seed})"

    # ------------------------------------------------------------------------------------------ entry point

    def generate(self, scenario: Scenario) -> BenchLogs:
        """The scenario's logs (deterministic for a seed and size)."""
        from pioneer.bench.generator import LogGenerator

        source = scenario.source(self.datasets, self.quick, self.seed)
        generator = LogGenerator(
            **({} if scenario.poison_rates is None else {"poison_rates": scenario.poison_rates}),
            logs_per_stage=self.logs_per_stage or scenario.logs(self.quick),
            fixable_share=scenario.fixable_share,
            fixable_mix=scenario.fixable_mix,
            poison_mix=scenario.poison_mix,
            seed=self.seed,
        )
        self._source = source
        return generator.generate(source, prefix=scenario.name)

    def run(self, scenario: Scenario) -> ScenarioResult:
        """Run every stage of ``scenario`` for every method; never raises for a failed scenario (the result
        carries the error)."""
        started = time.perf_counter()
        self.say(f"{scenario.name}: generating logs")
        logs = self.generate(scenario)
        result = ScenarioResult(
            scenario=scenario.name, task=scenario.task, description=scenario.description, metric_name="",
            quick=self.quick, heldout=len(logs.heldout), stage_counts=logs.counts(),
            poison_rates=[s.poison_rate for s in logs.stages],
        )
        try:
            self._run(scenario, logs, result)
        except Exception as exc:  # one broken scenario must not lose the others' results
            log.exception("scenario failed", extra={"scenario": scenario.name})
            result.error = f"{type(exc).__name__}: {exc}"
        result.wall_seconds = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------------------------------ the run

    def _run(self, scenario: Scenario, logs: BenchLogs, result: ScenarioResult) -> None:
        root = self.workdir / scenario.name
        if root.exists():
            shutil.rmtree(root)
        heldout = logs.heldout_examples()
        self._blind_ids = {e.id for e in heldout if scenario.blind_spot is not None and scenario.blind_spot(e)}
        by_id = logs.by_id()
        config = scenario.config(self.quick)
        sets = self._source.base_sets()
        model = scenario.name
        self.say(f"{scenario.name}: training the base model on {len(sets.train)} examples")
        t0 = time.perf_counter()
        registry = FileRegistry(root / "pioneer" / "registry")
        first = train_first_version(
            model, scenario.task, sets.train, validation=sets.validation, gate_set=sets.gate,
            registry=registry, config=config, gate=RegressionGate(metric_floor=0.0),
        )
        if first.version is None or not first.released:
            raise RuntimeError(f"the base model was not released ({first.outcome})")
        shutil.copytree(root / "pioneer" / "registry", root / "naive" / "registry")
        base = registry.load_adapter(model, first.version)
        self.say(f"{scenario.name}: scoring the base model on {len(heldout)} held-out logs")
        base_eval = base.evaluate(heldout)
        result.metric_name = base_eval.metric_name
        base_seconds = time.perf_counter() - t0
        chains = {}
        for method in ("naive", "pioneer"):
            reg = registry if method == "pioneer" else FileRegistry(root / method / "registry")
            chains[method] = _Chain(method, reg, TraceStore(root / method / "traces.sqlite"), base, first.version,
                                    base_eval, self._labeller(scenario, config))
        for method in METHODS:
            result.checkpoints.append(
                Checkpoint(method=method, stage=-1, version=first.version, outcome="base", metric=base_eval.metric,
                           blind_spot=self._blind_spot(base_eval), seconds=base_seconds if method == "none" else 0.0,
                           note=f"trained on {len(sets.train)} base examples")
            )
        scores = []
        for stage in logs.stages:
            result.checkpoints.append(
                Checkpoint(method="none", stage=stage.index, version=first.version, outcome="kept",
                           metric=base_eval.metric, blind_spot=self._blind_spot(base_eval))
            )
            self.say(f"{scenario.name}: stage {stage.index + 1} naive ({len(stage.train)} logs, "
                     f"{stage.poison_rate:.0%} poison)")
            result.checkpoints.append(self._naive(scenario, chains["naive"], stage, heldout, by_id))
            self.say(f"{scenario.name}: stage {stage.index + 1} pioneer")
            checkpoint, score, recovery = self._pioneer(scenario, chains["pioneer"], stage, heldout, by_id)
            result.checkpoints.append(checkpoint)
            if score is not None:
                scores.append(score)
                result.diagnosis.append({"stage": stage.index, **score.to_dict()})
            result.recovery.append([r.to_dict() for r in recovery])
        if scores:
            result.diagnosis.append({"stage": "pooled", **merge_scores(scores).to_dict()})
        for method, chain in chains.items():
            if chain.labeller is not None:
                result.judge[method] = [t.to_dict() for t in chain.labeller.tallies]
        for chain in chains.values():
            chain.store.close()

    def _blind_spot(self, evaluation: Evaluation) -> float | None:
        """``evaluation``'s share right among the held-out examples of the planted blind spot."""
        if not self._blind_ids:
            return None
        correct = evaluation.correct_by_id()
        return sum(bool(correct.get(i)) for i in self._blind_ids) / len(self._blind_ids)

    def _labeller(self, scenario: Scenario, config: Any) -> JudgeLabeller | None:
        """A fresh judge labeller for one method's chain in a label-free scenario (None otherwise)."""
        if scenario.labels != "judge":
            return None
        judge = scenario.checker(self._source) if scenario.checker is not None else None
        if judge is None:
            raise ValueError(f"scenario {scenario.name} is label-free but has no checker to judge with")
        calls = scenario.judge_calls[0 if self.quick else 1]
        return JudgeLabeller(judge, calls=calls, seed=self.seed,
                             answer_checker=getattr(config, "answer_checker", None) or "numeric")

    def _serve(self, chain: _Chain, stage: Stage, model: str, task: str) -> list[LabeledTrace]:
        """Production answers the stage's logs; each is labelled with its feedback (poison included), or in a
        label-free scenario a budgeted sample is labelled by the judge and the rest stays unlabelled."""
        logs = stage.train
        predictions = chain.adapter.predict([entry.example.text for entry in logs])
        at = (stage.index + 1) * STAGE_SECONDS
        if chain.labeller is not None:
            return chain.labeller.label(logs, predictions, stage=stage.index, model=model, version=chain.version,
                                        task=task, at=at)
        return [
            labeled_trace(entry.example, prediction, model=model, version=chain.version, task=task, at=at + i,
                          expected=entry.feedback)
            for i, (entry, prediction) in enumerate(zip(logs, predictions, strict=True))
        ]

    def _advance(
        self, chain: _Chain, decision, heldout: Sequence[Example], by_id: dict[str, SyntheticLog], model: str
    ) -> tuple[Evaluation, int, int, dict[str, int] | None]:
        """Move the chain to a released version; score it; flips and fixes against the previous checkpoint."""
        if decision is not None and decision.released and decision.version is not None:
            chain.adapter = chain.registry.load_adapter(model, decision.version)
            chain.version = decision.version
            evaluation = chain.adapter.evaluate(heldout)
        else:
            evaluation = chain.evaluation
        before, after = chain.evaluation.correct_by_id(), evaluation.correct_by_id()
        chain.evaluation = evaluation
        manifest = chain.registry.get_manifest(model, chain.version)
        trained = None
        if manifest.training_data:
            trained = trained_counts((e.id for e in chain.registry.get_dataset(model, manifest.training_data)), by_id)
        return evaluation, negative_flips(before, after), fixed(before, after), trained

    def _request(self, scenario: Scenario, chain: _Chain, stage: Stage, patterns: list[PatternRef], mode: str
                 ) -> RetrainRequest:
        request_id = f"{scenario.name}-{mode}-stage{stage.index}"
        return RetrainRequest(
            event_id=request_id, timestamp=time.time(), request_id=request_id,
            model=ModelRef(name=scenario.name, version=chain.version), patterns=patterns,
            reason=f"AdaptFT-Bench stage {stage.index + 1}", mode=mode,  # type: ignore[arg-type]
            budget=Budget(max_iterations=scenario.iterations[0 if self.quick else 1], max_candidates=2),
        )

    def _naive(self, scenario: Scenario, chain: _Chain, stage: Stage, heldout: Sequence[Example],
               by_id: dict[str, SyntheticLog]) -> Checkpoint:
        started = time.perf_counter()
        traces = self._serve(chain, stage, scenario.name, scenario.task)
        chain.store.add(traces)
        request = self._request(scenario, chain, stage, [], "naive")
        decision = NaiveRetrainer(since=(stage.index + 1) * STAGE_SECONDS).run(
            request, registry=chain.registry, traces=chain.store
        )
        evaluation, flips, fixes, trained = self._advance(chain, decision, heldout, by_id, scenario.name)
        return Checkpoint(
            method="naive", stage=stage.index, version=chain.version, outcome=decision.outcome,
            metric=evaluation.metric, blind_spot=self._blind_spot(evaluation), negative_flips=flips, fixed=fixes,
            gate_negative_flips=decision.metrics.get("negative_flips"), trained=trained,
            seconds=time.perf_counter() - started,
        )

    def _pioneer(self, scenario: Scenario, chain: _Chain, stage: Stage, heldout: Sequence[Example],
                 by_id: dict[str, SyntheticLog]):
        started = time.perf_counter()
        traces = self._serve(chain, stage, scenario.name, scenario.task)
        chain.store.add(traces)
        found = discover_patterns(traces, embedder=self._embed(), min_failures=scenario.min_pattern,
                                  seed=self.seed, prefix=f"s{stage.index}-c", threshold=scenario.clustering[0],
                                  link_threshold=scenario.clustering[1])
        for pattern_id, ids in found.members.items():
            chain.store.attach_pattern(pattern_id, ids)
        failures = [t.request_id for t in traces if t.outcome == "fail"]
        recovery = pattern_recovery(found.failure_cluster, found.members, failures, by_id)
        refs = [PatternRef(pattern_id=pid, name=found.names.get(pid, pid)) for pid in sorted(found.members)]
        decision = None
        score = None
        if refs:
            blends = scenario.blends(self.quick)
            checker = scenario.checker(self._source) if scenario.checker is not None and self.checkers else None
            retrainer = Retrainer(
                diagnoser=Diagnoser(checker=checker),
                gate=RegressionGate(
                    epsilon=self.epsilon, cross_checkpoint_epsilon=self.epsilon, metric_floor=0.0,
                    pattern_confidence=scenario.pattern_confidence,
                ),
                **({} if blends is None else {"blend_weights": blends}),
            )
            decision = retrainer.run(self._request(scenario, chain, stage, refs, "pioneer"),
                                     registry=chain.registry, traces=chain.store)
            patterns = (decision.diagnosis or {}).get("patterns", [])
            verdicts = {rid: v for p in patterns for rid, v in p["verdicts"].items()}
            score = diagnosis_scores(verdicts, by_id)
        evaluation, flips, fixes, trained = self._advance(chain, decision, heldout, by_id, scenario.name)
        note = ""
        if decision is not None and decision.gate_report is not None and not decision.released:
            note = "; ".join(c.name for c in decision.gate_report.checks if not c.passed)
            summary = gate_summary(decision.metrics, chain.evaluation.metric_name)
            note += f" ({summary})" if summary else ""
            miss = nearest_miss(decision.candidates)
            note += f" (nearest miss {miss})" if miss else ""
        return (
            Checkpoint(
                method="pioneer", stage=stage.index, version=chain.version,
                outcome=decision.outcome if decision is not None else "no_patterns", metric=evaluation.metric,
                blind_spot=self._blind_spot(evaluation), negative_flips=flips, fixed=fixes,
                gate_negative_flips=None if decision is None else decision.metrics.get("negative_flips"),
                regression_negative_flips=None if decision is None
                else decision.metrics.get("regression_negative_flips"),
                trained=trained, patterns=len(refs), seconds=time.perf_counter() - started, note=note,
            ),
            score,
            recovery,
        )

    def _embed(self):
        if self._embedder is None:
            from pioneer.embedding import Embedder

            self._embedder = Embedder()
        return self._embedder

"""``train_first_version``: train a model from data, register it, point ``production`` at it.

A first model has no baseline, so the gate runs only its absolute checks (the metric floor) and its report
says, in a note, that the flip, cross-checkpoint and change checks did not run. Its training, validation and
gate sets are stored with it: they are what every later retrain starts from and is gated against.
Idempotent like a retrain: the job id is derived from the data, so running the same command twice after a
crash releases once.
"""

from __future__ import annotations

from collections.abc import Sequence

from pioneer.errors import ConfigError
from pioneer.events import GateReport
from pioneer.gates.regression import RegressionGate
from pioneer.registry import Registry, StoredEvaluation, VersionInfo, VersionManifest
from pioneer.retrain.commit import serve_once
from pioneer.retrain.decision import ReleaseDecision, build_decision, decision_metrics
from pioneer.retrain.loop import AdapterFactory, default_factory, validation_score
from pioneer.retrain.progress import ProgressReporter, ProgressSink
from pioneer.retrain.recipes import config_to_dict
from pioneer.training.base import BaseTrainConfig, Evaluation, Example, TaskAdapter


def train_first_version(
    model: str,
    task: str,
    train: Sequence[Example],
    *,
    validation: Sequence[Example],
    gate_set: Sequence[Example],
    registry: Registry,
    gate: RegressionGate | None = None,
    config: BaseTrainConfig | None = None,
    factory: AdapterFactory | None = None,
    alias: str = "production",
    progress: ProgressSink | None = None,
) -> ReleaseDecision:
    """Train, gate (no baseline), register and, if the gate passes, point ``alias`` at the new version.

    Raises ``ConfigError`` if ``alias`` already points at a version (retrain that model instead) or if an
    example id is in both the training data and an evaluation set.
    """
    release_gate = gate or RegressionGate()
    build = factory or default_factory
    eval_ids = {e.id for e in validation} | {e.id for e in gate_set}
    leaked = [e.id for e in train if e.id in eval_ids]
    if leaked:
        raise ConfigError(f"{len(leaked)} training examples are also in an evaluation set (e.g. {leaked[0]!r})")
    train_hash = registry.put_dataset(model, train)
    gate_hash = registry.put_dataset(model, gate_set)
    validation_hash = registry.put_dataset(model, validation)
    request_id = f"train-{model}-{train_hash.removeprefix('sha256-')}-{gate_hash.removeprefix('sha256-')[:8]}"

    def decide(reporter: ProgressReporter, started: float) -> ReleaseDecision:
        current = registry.get_alias(model, alias)
        if current is not None:
            raise ConfigError(
                f"model {model!r} already has a {alias} version ({current}); retrain it instead of training anew"
            )
        reporter.emit("training", message=f"{len(train)} training examples, {len(gate_set)} gate examples")
        adapter = build(task, config)
        adapter.fit(train, validation=list(validation) or None, progress=reporter.training_callback(0, "first"))
        reporter.emit("evaluating")
        evaluation = adapter.evaluate(gate_set)
        reporter.emit("gating")
        report = release_gate.evaluate(evaluation, baseline=None)
        metrics = decision_metrics(evaluation, None, report, gate_examples=len(gate_set))
        if validation:
            metrics[f"validation_{evaluation.metric_name}"] = validation_score(adapter, validation)
        manifest = _register(registry, model, adapter, evaluation, report, metrics, request_id=request_id,
                             train_hash=train_hash, gate_hash=gate_hash, validation_hash=validation_hash)
        return build_decision(
            request_id, model, manifest, None, report, metrics, alias=alias, diagnosis=None, curriculum=None,
            tried=[], started=started, artifact_uri=registry.version_path(model, manifest.version).as_uri(),
            mode="train",
        )

    return serve_once(registry, model, request_id, progress, decide)


def _register(
    registry: Registry,
    model: str,
    adapter: TaskAdapter,
    evaluation: Evaluation,
    report: GateReport,
    metrics: dict[str, float],
    *,
    request_id: str,
    train_hash: str,
    gate_hash: str,
    validation_hash: str,
) -> VersionManifest:
    """Register the first version with its data, recipe, metrics, gate report and gate results."""
    config_used = getattr(adapter, "config", None)
    info = VersionInfo(
        parent=None,
        base_model=getattr(config_used, "base_model", None),
        training_data=train_hash,
        eval_sets={"gate": gate_hash, "validation": validation_hash},
        recipe={"config": config_to_dict(config_used)},
        metrics=metrics,
        gate_report=report,
        request_id=request_id,
        mode="train",
    )
    stored = StoredEvaluation.of(gate_hash, evaluation)
    return registry.register_version(model, adapter, info, evaluations={"gate": stored})

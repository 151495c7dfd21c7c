"""``NaiveRetrainer``: the baseline every benchmark compares against.

It does what a team without Pioneer would do: take every recent labelled log (failures with their
corrections, passes with their predictions), add it to the training data, retrain, and ship. No diagnosis
(label noise, injections and out-of-scope inputs are trained on), no curriculum, no gate (the release's gate
report has no checks and a note saying so). Its metrics still report the negative flips it caused, so the
damage is visible. Idempotent by request id like the real loop.
"""

from __future__ import annotations

import logging

from pioneer.events import GateReport, RetrainRequest
from pioneer.registry import Registry, StoredEvaluation, VersionInfo
from pioneer.retrain.commit import serve_once
from pioneer.retrain.decision import ReleaseDecision, build_decision, decision_metrics
from pioneer.retrain.loop import AdapterFactory, default_factory
from pioneer.retrain.progress import ProgressReporter, ProgressSink
from pioneer.retrain.recipes import config_to_dict
from pioneer.traces.examples import trace_to_example
from pioneer.traces.store import TraceStore

log = logging.getLogger(__name__)

NAIVE_NOTE = (
    "Naive mode: retrained on all recent labelled logs without diagnosis, filtering or gate; released unconditionally."
)


class NaiveRetrainer:
    """Retrain on everything recent and release. See the module docstring.

    Parameters
    ----------
    since
        Only traces labelled at or after this Unix time (None: all stored traces of the model).
    factory
        Builds an untrained adapter (default ``pioneer.training.adapter_for``).
    alias
        The alias it moves.
    """

    def __init__(
        self, *, since: float | None = None, factory: AdapterFactory | None = None, alias: str = "production"
    ) -> None:
        self.since = since
        self.factory = factory
        self.alias = alias

    def __repr__(self) -> str:
        return f"NaiveRetrainer(since={self.since!r}, alias={self.alias!r})"

    def run(
        self, request: RetrainRequest, *, registry: Registry, traces: TraceStore, progress: ProgressSink | None = None
    ) -> ReleaseDecision:
        """Serve ``request``; idempotent by ``request.request_id``. Raises ``ValueError`` for a model without a
        production version."""
        return serve_once(
            registry, request.model.name, request.request_id, progress,
            lambda reporter, started: self._decide(request, registry, traces, reporter, started),
        )

    def _decide(
        self, request: RetrainRequest, registry: Registry, traces: TraceStore, reporter: ProgressReporter,
        started: float,
    ) -> ReleaseDecision:
        model = request.model.name
        production_version = registry.get_alias(model, self.alias)
        if production_version is None:
            raise ValueError(f"model {model!r} has no {self.alias} version to retrain")
        manifest = registry.get_manifest(model, production_version)
        production = registry.load_adapter(model, production_version)
        base = registry.get_dataset(model, manifest.training_data) if manifest.training_data else []
        gate_set = registry.get_dataset(model, manifest.eval_sets["gate"]) if "gate" in manifest.eval_sets else []
        logs = [e for t in traces.query(model=model, since=self.since) if (e := trace_to_example(t)) is not None]
        logged = {e.id for e in logs}
        train = [e for e in base if e.id not in logged] + logs
        reporter.emit("training", message=f"naive: {len(base)} base + {len(logs)} logged examples, no filter")

        config = getattr(production, "config", None)
        adapter = (self.factory or default_factory)(manifest.task, config)
        adapter.fit(train, progress=reporter.training_callback(0, "naive"))
        evaluation = adapter.evaluate(gate_set)
        baseline = production.evaluate(gate_set)
        report = GateReport(passed=True, baseline_version=production_version, checks=[], notes=[NAIVE_NOTE])
        metrics = decision_metrics(evaluation, baseline, report, gate_examples=len(gate_set))
        info = VersionInfo(
            parent=production_version,
            base_model=manifest.base_model,
            training_data=registry.put_dataset(model, train),
            eval_sets=dict(manifest.eval_sets),
            recipe={"config": config_to_dict(config), "mode": "naive"},
            metrics=metrics,
            gate_report=report,
            request_id=request.request_id,
            mode="naive",
        )
        stored = StoredEvaluation.of(manifest.eval_sets.get("gate", ""), evaluation)
        new = registry.register_version(model, adapter, info, evaluations={"gate": stored} if gate_set else None)
        return build_decision(
            request.request_id,
            model,
            new,
            production_version,
            report,
            metrics,
            alias=self.alias,
            diagnosis=None,
            curriculum=None,
            tried=[],
            started=started,
            artifact_uri=registry.version_path(model, new.version).as_uri(),
            mode="naive",
        )

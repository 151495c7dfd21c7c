"""``ReleaseDecision``: what a retrain request decided, the events that say so, and its stored record.

The decision is written to the registry (``Registry.put_request``) *before* the alias moves, and returned
unchanged when the same request comes again. That is what makes a retrain idempotent by request id: after
a crash between training and publishing, the redelivered request finds its record, re-applies the alias
move (a no-op if it happened: the history knows the request), and returns the same events with the same
ids, so downstream deduplication sees one release.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from pioneer.curriculum.builder import Curriculum
from pioneer.diagnosis.report import DiagnosisReport
from pioneer.events import EVENT_TYPES, AliasMove, Event, GateReport, from_dict
from pioneer.registry import VersionManifest
from pioneer.retrain.release import rejection_event, release_event
from pioneer.training.base import Evaluation

Outcome = Literal["released", "rejected", "failed"]
RecordState = Literal["decided", "applied", "published"]


@dataclass(slots=True, kw_only=True)
class ReleaseDecision:
    """The result of one retrain request (or first training)."""

    request_id: str
    model: str
    outcome: Outcome
    version: str | None
    """The candidate that was judged (released or not); None when nothing was trained."""
    production_version: str | None
    """Production when the decision was made (the release's parent)."""
    gate_report: GateReport | None
    events: list[Event]
    """What to publish, in order: a ModelRelease or ReleaseRejection, then the final TrainingProgress."""
    alias: AliasMove | None = None
    """The move a release makes (None for rejections and failures)."""
    alias_name: str = "production"
    metrics: dict[str, float] = field(default_factory=dict)
    diagnosis: dict[str, Any] | None = None
    curriculum: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    """Every candidate tried: recipe, validation score, wall time, and (``gate``) the gate's verdict on it when it
    was gated: passed, the names of the checks it failed, its negative flips."""
    mode: str = "pioneer"
    wall_seconds: float = 0.0
    replayed: bool = False
    """True when this decision was read back from the registry instead of computed (a redelivery)."""

    @property
    def released(self) -> bool:
        return self.outcome == "released"

    def to_record(self, state: RecordState) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("events", "replayed")}
        data["events"] = [orjson.loads(orjson.dumps(e)) for e in self.events]
        data["state"] = state
        return orjson.loads(orjson.dumps(data))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReleaseDecision:
        data = {k: v for k, v in record.items() if k != "state"}
        data["events"] = [from_dict(EVENT_TYPES[e["event_type"]], e) for e in record["events"]]
        data["gate_report"] = (
            None if record.get("gate_report") is None else from_dict(GateReport, record["gate_report"])
        )
        data["alias"] = None if record.get("alias") is None else from_dict(AliasMove, record["alias"])
        return cls(**data, replayed=True)


def build_decision(
    request_id: str,
    model: str,
    manifest: VersionManifest,
    production_version: str | None,
    gate_report: GateReport,
    metrics: dict[str, float],
    *,
    alias: str,
    diagnosis: DiagnosisReport | None,
    curriculum: Curriculum | None,
    tried: list[dict[str, Any]],
    started: float,
    artifact_uri: str,
    mode: str,
) -> ReleaseDecision:
    """Build the decision and its first event (release or rejection) for a registered candidate."""
    now = time.time()
    report = manifest.gate_report or gate_report
    if report.passed:
        move = AliasMove(name=alias, from_version=production_version, to_version=manifest.version)
        event = release_event(manifest, move, request_id=request_id, timestamp=now, artifact_uri=artifact_uri)
        outcome = "released"
    else:
        move = None
        event = rejection_event(
            model,
            version=manifest.version,
            production_version=production_version,
            report=report,
            request_id=request_id,
            timestamp=now,
            metrics=metrics,
        )
        outcome = "rejected"
    return ReleaseDecision(
        request_id=request_id,
        model=model,
        outcome=outcome,  # type: ignore[arg-type]
        version=manifest.version,
        production_version=production_version,
        gate_report=report,
        events=[event],
        alias=move,
        alias_name=alias,
        metrics=metrics,
        diagnosis=None if diagnosis is None else diagnosis.to_dict(),
        curriculum=None if curriculum is None else curriculum.summary(),
        candidates=tried,
        mode=mode,
        wall_seconds=time.monotonic() - started,
    )


def decision_metrics(
    evaluation: Evaluation,
    baseline: Evaluation | None,
    report: GateReport,
    *,
    gate_examples: int | None = None,
    gold_examples: int | None = None,
    coverage_examples: int | None = None,
) -> dict[str, float]:
    """The numbers a release or rejection carries: metric, baseline metric, flips both ways, pattern fix rates."""
    metrics = {evaluation.metric_name: evaluation.metric}
    if baseline is not None:
        metrics[f"baseline_{baseline.metric_name}"] = baseline.metric
        base = baseline.correct_by_id()
        cand = evaluation.correct_by_id()
        metrics["negative_flips"] = float(sum(1 for i, ok in base.items() if ok and not cand.get(i, False)))
        metrics["positive_flips"] = float(sum(1 for i, ok in base.items() if not ok and cand.get(i, False)))
    for check in report.checks:
        if check.name.startswith("pattern_fix_rate:") and check.observed is not None:
            metrics[check.name.replace(":", "_")] = check.observed
    if gate_examples is not None:
        metrics["gate_examples"] = float(gate_examples)
    if gold_examples is not None:
        metrics["gold_examples"] = float(gold_examples)
    if coverage_examples is not None:
        metrics["coverage_examples"] = float(coverage_examples)
    return metrics

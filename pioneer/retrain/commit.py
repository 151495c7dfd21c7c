"""Committing a decision so that a crash at any point, followed by a retry, yields exactly one outcome.

A decision's record goes through three states: ``decided`` (recorded, not yet applied), ``applied`` (the alias
moved, for a release) and ``published`` (its events acknowledged by the broker). A replay re-applies a decided
one, and says whether the events still need publishing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from pioneer.events import GateReport
from pioneer.faults import failpoint
from pioneer.registry import Registry, RegistryError
from pioneer.retrain.decision import ReleaseDecision
from pioneer.retrain.progress import ProgressReporter, ProgressSink
from pioneer.retrain.release import promote, rejection_event

log = logging.getLogger(__name__)

Decide = Callable[[ProgressReporter, float], ReleaseDecision]
"""``decide(reporter, started)``: a job's own work, given its progress reporter and its start (``time.monotonic()``)."""


def serve_once(
    registry: Registry, model: str, request_id: str, progress: ProgressSink | None, decide: Decide
) -> ReleaseDecision:
    """The path every retrain job takes: the stored decision when ``request_id`` was decided before (so a
    redelivered job trains nothing and moves nothing), else ``decide``'s, committed. A ``failed`` decision
    decided nothing and is returned as it is, so a retry serves the job again."""
    replay = replay_decision(registry, model, request_id)
    if replay is not None:
        return replay
    reporter = ProgressReporter(request_id, model, progress)
    decision = decide(reporter, time.monotonic())
    return decision if decision.outcome == "failed" else commit_decision(registry, decision, reporter)


def replay_decision(registry: Registry, model: str, request_id: str) -> ReleaseDecision | None:
    """The stored decision of ``request_id``, re-applied (idempotently), or None if it was never decided."""
    record = registry.get_request(model, request_id)
    if record is None:
        return None
    decision = ReleaseDecision.from_record(record)
    if record.get("state") == "decided":
        decision = apply_decision(registry, decision)
        registry.put_request(model, request_id, decision.to_record("applied"))
    log.info(
        "request already decided; returning the stored decision",
        extra={"request_id": request_id, "outcome": decision.outcome},
    )
    return decision


def commit_decision(registry: Registry, decision: ReleaseDecision, reporter: ProgressReporter) -> ReleaseDecision:
    """Record the decision, then apply it (alias move for a release), then record it applied.

    The order is what makes a crash at any point safe: before the first write nothing is visible and a retry
    retrains; after it, a retry re-applies the same decision.
    """
    final = reporter.emit(
        "released" if decision.released else "rejected",
        version=decision.version,
        message=_final_message(decision),
        metrics=decision.metrics or None,
        send=False,
    )
    decision.events.append(final)
    failpoint("trainer.version_registered")  # the candidate is a version; nothing says what was decided
    registry.put_request(decision.model, decision.request_id, decision.to_record("decided"))
    failpoint("trainer.decided")  # recorded, the alias not moved
    decision = apply_decision(registry, decision)
    registry.put_request(decision.model, decision.request_id, decision.to_record("applied"))
    return decision


def published(registry: Registry, model: str, request_id: str) -> bool:
    """Whether the events of ``request_id``'s decision were published (then a replay publishes nothing)."""
    record = registry.get_request(model, request_id)
    return record is not None and record.get("state") == "published"


def mark_published(registry: Registry, decision: ReleaseDecision) -> None:
    """Record that ``decision``'s events were acknowledged, so a replay of its request does not send them again.

    A decision never recorded (a failed retrain) stays unrecorded: its request, read again, is served again.
    """
    if registry.get_request(decision.model, decision.request_id) is not None:
        registry.put_request(decision.model, decision.request_id, decision.to_record("published"))


def apply_decision(registry: Registry, decision: ReleaseDecision) -> ReleaseDecision:
    if not decision.released:
        return decision
    assert decision.version is not None
    try:
        promote(
            registry,
            decision.model,
            decision.version,
            alias=decision.alias_name,
            expected_from=decision.production_version,
            request_id=decision.request_id,
            reason=f"release for request {decision.request_id}",
            require_blessing=decision.mode != "naive",
        )
    except RegistryError as exc:
        if exc.code != "INVALID_STATE":
            raise
        # Production moved (a rollback or another release) after this decision was made and before it was
        # applied: releasing now would undo that move. Turn the decision into a rejection that says so.
        log.warning("alias moved before the release was applied; rejecting", extra={"request_id": decision.request_id})
        report = dataclasses.replace(
            decision.gate_report
            or GateReport(passed=False, baseline_version=decision.production_version, checks=[], notes=[]),
            passed=False,
            notes=[*(decision.gate_report.notes if decision.gate_report else []), f"Not applied: {exc.message}."],
        )
        rejection = rejection_event(
            decision.model,
            version=decision.version,
            production_version=decision.production_version,
            report=report,
            request_id=decision.request_id,
            timestamp=time.time(),
            metrics=decision.metrics,
            reason=f"{decision.alias_name} moved before the release was applied",
        )
        progress = [e for e in decision.events if e.event_type == "training_progress"]
        for event in progress:
            event.stage = "rejected"  # type: ignore[attr-defined]
        return dataclasses.replace(
            decision, outcome="rejected", gate_report=report, alias=None, events=[rejection, *progress]
        )
    return decision


def _final_message(decision: ReleaseDecision) -> str:
    if decision.released:
        return f"released {decision.version} (was {decision.production_version})"
    report = decision.gate_report
    failed = [c.name for c in report.checks if not c.passed] if report else []
    return f"rejected {decision.version or '(nothing trained)'}: " + (", ".join(failed) or "see gate report")

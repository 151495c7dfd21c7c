"""Building the labeled trace of a log and its label."""

from __future__ import annotations

import hashlib

from pioneer.events import InferenceLog, Label, LabeledTrace
from pioneer.join.outcome import assess


def trace_id(log_event_id: str, label_event_id: str) -> str:
    """Deterministic: replaying the same pair yields the same trace id, which downstream deduplicates on."""
    digest = hashlib.blake2b(f"{log_event_id}\x00{label_event_id}".encode(), digest_size=12).hexdigest()
    return f"tr-{digest}"


def labeled_trace(log: InferenceLog, label: Label, now: float) -> LabeledTrace:
    """Join ``log`` and ``label`` into a trace saying whether the served version failed and how."""
    failure = assess(log, label)
    return LabeledTrace(
        event_id=trace_id(log.event_id, label.event_id),
        timestamp=now,
        request_id=log.request_id,
        model=log.model,
        task=log.task,
        input=log.input,
        prediction=log.prediction,
        expected=label.expected,
        verdict=label.verdict,
        reason=label.reason,
        source=label.source,
        outcome="fail" if failure is not None else "pass",
        failure=failure,
        log_event_id=log.event_id,
        label_event_id=label.event_id,
        served_at=log.timestamp,
        labeled_at=label.timestamp,
        latency_ms=log.latency_ms,
        metadata=log.metadata,
    )

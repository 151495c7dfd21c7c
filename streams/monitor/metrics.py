"""The monitor's Prometheus metrics (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pioneer.events import TriggerDecision
from pioneer.join import JoinStats
from streams.metrics import StreamMetrics


class MonitorMetrics(StreamMetrics):
    """Everything :class:`StreamMetrics` counts, plus the join, clustering and trigger."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.join_events = Counter(
            "pioneer_join_events",
            "Join outcomes: logs, labels, duplicates, joined, expired_unlabeled, expired_orphan_labels, corrupt_state.",
            ["kind"],
            registry=r,
        )
        self.join_pending = Gauge("pioneer_join_pending", "Requests waiting in the join buffers.", registry=r)
        self.traces = Counter("pioneer_traces", "Labeled traces by model and outcome.", ["model", "outcome"], registry=r)
        self.embedded = Counter("pioneer_embedded", "Traces embedded for clustering, by outcome.", ["outcome"], registry=r)
        self.embed_seconds = Histogram(
            "pioneer_embed_batch_seconds",
            "Latency of one embedding batch.",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.clusters_live = Gauge("pioneer_clusters_live", "Live failure clusters, by model.", ["model"], registry=r)
        self.patterns = Counter("pioneer_pattern_updates", "Error-pattern updates published, by model.", ["model"], registry=r)
        self.patterns_emerging = Gauge("pioneer_patterns_emerging", "Emerging error patterns, by model.", ["model"], registry=r)
        self.triggers = Counter("pioneer_retrain_requests", "Retrain requests emitted, by model.", ["model"], registry=r)
        self.decisions = Counter(
            "pioneer_trigger_decisions",
            "Checks of the retrain trigger by model, outcome (request or wait), pacing reason and mode.",
            ["model", "outcome", "reason", "mode"],
            registry=r,
        )
        self.new_failures = Gauge(
            "pioneer_trigger_new_failures", "Failures of the serving version since its last request, by model.", ["model"], registry=r
        )
        self.required_failures = Gauge(
            "pioneer_trigger_required_failures", "New failures the trigger asks for before the next request.", ["model"], registry=r
        )
        self.pattern_share = Gauge(
            "pioneer_trigger_pattern_share", "Share of the serving version's recent failures in emerging patterns.", ["model"], registry=r
        )
        self._synced = JoinStats()

    def record_decision(self, model: str, decision: TriggerDecision, *, requested: bool) -> None:
        """Count one check of the trigger and expose its evidence."""
        self.decisions.labels(model, "request" if requested else "wait", decision.pacing, decision.mode).inc()
        self.new_failures.labels(model).set(decision.new_failures)
        self.required_failures.labels(model).set(decision.required_failures)
        self.pattern_share.labels(model).set(decision.pattern_share or 0.0)

    def sync_join(self, stats: JoinStats, pending: int) -> None:
        """Add what ``stats`` counted since the last call."""
        for name in JoinStats.__slots__:
            delta = getattr(stats, name) - getattr(self._synced, name)
            if delta:
                self.join_events.labels(name).inc(delta)
                setattr(self._synced, name, getattr(stats, name))
        self.join_pending.set(pending)

"""The monitor's Prometheus metrics (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        self._synced = JoinStats()

    def sync_join(self, stats: JoinStats, pending: int) -> None:
        """Add what ``stats`` counted since the last call."""
        for name in JoinStats.__slots__:
            delta = getattr(stats, name) - getattr(self._synced, name)
            if delta:
                self.join_events.labels(name).inc(delta)
                setattr(self._synced, name, getattr(stats, name))
        self.join_pending.set(pending)

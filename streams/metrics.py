"""Prometheus metrics of the stream workers, one registry per worker (tests can build as many as they like)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class StreamMetrics:
    """Counters shared by every worker that consumes events: what came in, what was dead-lettered."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_in = Counter(
            "pioneer_events_in", "Records consumed, by topic.", ["topic"], registry=self.registry
        )
        self.events_out = Counter(
            "pioneer_events_out", "Events produced, by topic.", ["topic"], registry=self.registry
        )
        self.dead_letters = Counter(
            "pioneer_dead_letters",
            "Records refused (sent to the dead-letter topic), by source topic and error class.",
            ["topic", "error"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "pioneer_consumer_lag", "Records behind the high watermark, by topic.", ["topic"], registry=self.registry
        )
        self.batch_seconds = Histogram(
            "pioneer_batch_seconds",
            "Time to process one consumed batch, by stage.",
            ["stage"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Expose ``/metrics`` on ``host:port`` (a background thread)."""
        start_http_server(port, addr=host, registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (for tests and progress displays)."""
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

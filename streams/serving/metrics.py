"""Prometheus metrics of a serving process (``GET /metrics``), in a registry of its own.

Requests and latency by endpoint; the served version as an info-style gauge; swaps and failed loads; and the
whole path of logged events: queued in memory, sent, spilled to disk, replayed from it, and dropped at a bound
(by reason), so that a log that did not reach Kafka is always accounted for somewhere.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ServingMetrics:
    """Every metric ``pioneer serve`` exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pioneer_serving_requests", "HTTP requests answered, by endpoint and status code.", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "pioneer_serving_request_seconds", "Time to answer an HTTP request, by endpoint.", ["endpoint"],
            registry=r, buckets=LATENCY_BUCKETS,
        )
        self.inferences = Counter(
            "pioneer_serving_inferences", "Inputs answered by the model, by version.", ["version"], registry=r
        )
        self.batch_size = Histogram(
            "pioneer_serving_batch_inputs", "Inputs per forward pass (micro-batching).", registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
        self.model_info = Gauge(
            "pioneer_serving_model_info", "1 for the version serving now (labels name it).", ["model", "version", "task"], registry=r
        )
        self.swaps = Counter("pioneer_serving_swaps", "Model swaps done, by kind.", ["kind"], registry=r)
        self.swap_seconds = Histogram(
            "pioneer_serving_swap_seconds", "From a swap being asked for to the new version serving (load + warm-up).",
            registry=r, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )
        self.swap_failures = Counter(
            "pioneer_serving_swap_failures", "Loads or warm-ups that failed (the old version kept serving).", registry=r
        )
        # The event path: memory queue -> Kafka, or -> disk spill -> Kafka.
        self.events_queued = Gauge("pioneer_serving_events_queued", "Events waiting in memory to be shipped.", registry=r)
        self.events_offered = Counter(
            "pioneer_serving_events_offered", "Events handed to the shipper, by topic.", ["topic"], registry=r
        )
        self.events_sent = Counter(
            "pioneer_serving_events_sent", "Events acknowledged by Kafka, by topic.", ["topic"], registry=r
        )
        self.events_spilled = Counter(
            "pioneer_serving_events_spilled", "Events written to the disk spill (broker unreachable).", registry=r
        )
        self.events_replayed = Counter(
            "pioneer_serving_events_replayed", "Spilled events delivered to Kafka after the broker came back.", registry=r
        )
        self.events_dropped = Counter(
            "pioneer_serving_events_dropped",
            "Events lost at a bound: memory_full (in-memory queue), spill_full (disk spill), invalid (failed its "
            "schema: a bug), unencodable (holds what JSON cannot carry, or nests too deep), too_large (beyond "
            "Kafka's record size), corrupt (unreadable spill line).",
            ["reason"],
            registry=r,
        )
        self.task_restarts = Counter(
            "pioneer_serving_task_restarts", "Background tasks of the shipper that died (logged) and were restarted.",
            ["task"], registry=r,
        )
        self.spill_records = Gauge("pioneer_serving_spill_records", "Events waiting in the disk spill.", registry=r)
        self.spill_bytes = Gauge("pioneer_serving_spill_bytes", "Bytes waiting in the disk spill.", registry=r)
        self.broker_up = Gauge(
            "pioneer_serving_broker_up", "1 while the last delivery to Kafka succeeded, 0 after one failed.", registry=r
        )
        self.delivery_seconds = Histogram(
            "pioneer_serving_delivery_seconds", "Time for Kafka to acknowledge one shipped batch.", registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (for tests and progress displays)."""
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

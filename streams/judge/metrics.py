"""The judge worker's Prometheus metrics (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.metrics import StreamMetrics


class JudgeMetrics(StreamMetrics):
    """Everything :class:`StreamMetrics` counts, plus sampling, judge calls and judge/human agreement."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.sampled = Counter("pioneer_judge_sampled", "Logs offered to the sampler, by model and decision (judge, skip, budget).", ["model", "decision"], registry=r)
        self.verdicts = Counter("pioneer_judge_verdicts", "Judge labels published, by model, judge and verdict.", ["model", "judge", "verdict"], registry=r)
        self.skipped = Counter("pioneer_judge_skipped", "Sampled logs the judge gave no verdict on, by model and reason (timeout, transport, invalid_reply, unjudgeable, error).", ["model", "reason"], registry=r)
        self.call_seconds = Histogram(
            "pioneer_judge_call_seconds", "Latency of one judge call.", ["judge"], registry=r,
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.agreement_pairs = Counter(
            "pioneer_judge_agreement_pairs", "Requests labelled by both the judge and a human, by model, judge and whether they agreed.",
            ["model", "judge", "agreed"], registry=r,
        )
        self.drift_alarms = Counter(
            "pioneer_judge_drift_alarms", "Strata whose unlabelled traffic drifted (and are sampled more), by model and signal (novel, input_shift, confidence_drop).",
            ["model", "signal"], registry=r,
        )
        self.agreement = Gauge(
            "pioneer_judge_agreement", "Share of requests labelled by both where the judge agreed with the human.", ["model", "judge"], registry=r,
        )

"""The judge worker's settings: flags override ``PIONEER_JUDGE_*`` variables, which override the defaults."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeConfig:
    """How the judge worker samples, calls its judge and reports."""

    group_id: str = field(default="pioneer-judge", metadata={"help": "Consumer group of the judge workers."})
    rate: float = field(default=0.05, metadata={"help": "Share of traffic the sampler would like judged, before the call budget."})
    per_second: float = field(default=1.0, metadata={"help": "Judge calls per second at most (long run)."})
    per_day: int = field(default=10_000, metadata={"help": "Judge calls per UTC day at most."})
    burst: float | None = field(default=None, metadata={"help": "Judge calls granted at once after a quiet spell (default: max(1, per_second))."})
    timeout: float = field(default=30.0, metadata={"help": "Seconds a judge call may take; then the log is skipped (dead-lettered with the reason)."})
    concurrency: int = field(default=4, metadata={"help": "Judge calls in flight at once."})
    batch: int = field(default=500, metadata={"help": "Logs per consumed batch."})
    drift_boost: float = field(default=4.0, metadata={"help": "Sampling-rate factor of a stratum whose unlabelled traffic drifted (1: no drift watch)."})
    embed_inputs: bool = field(default=True, metadata={"help": "Embed the text of logs that carry no metadata.embedding (MiniLM, as the monitor) so the drift watch sees input shifts; off: confidence and novelty only."})
    seed: int = field(default=0, metadata={"help": "Seed of the sampler's per-request draw."})
    metrics_port: int | None = field(default=None, metadata={"help": "Serve Prometheus /metrics on this port (None: off)."})

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {self.rate}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.drift_boost < 1:
            raise ValueError(f"drift_boost must be >= 1, got {self.drift_boost}")
        if self.concurrency < 1 or self.batch < 1:
            raise ValueError(f"concurrency and batch must be >= 1, got {self.concurrency} and {self.batch}")

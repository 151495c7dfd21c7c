"""The monitor's settings: flags override ``PIONEER_MONITOR_*`` variables, which override the defaults."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorConfig:
    """How the monitor joins, samples, embeds, checks and checkpoints."""

    group_id: str = field(default="pioneer-monitor", metadata={"help": "Consumer group (and Faust app id) of the monitor's workers."})
    join_window: float = field(default=900.0, metadata={"help": "Seconds an unmatched log or label waits for its other half."})
    join_max_pending: int = field(default=500_000, metadata={"help": "Requests held per partition at most by the join."})
    join_batch: int = field(default=5000, metadata={"help": "Records per join batch."})
    pass_sample_rate: float = field(default=0.1, metadata={"help": "Fraction of passing traces embedded (failure-rate denominator)."})
    embed_model: str | None = field(default=None, metadata={"help": "sentence-transformers model id or path; None = offline all-MiniLM-L6-v2."})
    embed_batch: int = field(default=256, metadata={"help": "Traces per embedding batch (stream.take_events max)."})
    embed_within: float = field(default=1.0, metadata={"help": "Seconds to wait for a full embedding batch."})
    check_interval: float = field(default=5.0, metadata={"help": "Seconds between pattern checks of a model."})
    checkpoint_interval: float = field(default=10.0, metadata={"help": "Seconds between checkpoints of a model's clusters."})
    metrics_port: int | None = field(default=None, metadata={"help": "Serve Prometheus /metrics on this port (None: off)."})
    # Clusters, patterns and the trigger (event-time seconds; production defaults, shorten for demos)
    half_life: float = field(default=86_400.0, metadata={"help": "Seconds for a failure's weight in a cluster to halve."})
    recent_half_life: float = field(default=3_600.0, metadata={"help": "Seconds of the recent window (recent failures, growth)."})
    min_failures: float = field(default=10.0, metadata={"help": "Recent failures a cluster needs to be an emerging pattern."})
    min_growth: float = field(default=2.0, metadata={"help": "Growth (recent vs long-run failure rate) an emerging pattern needs."})
    broad_failure_rate: float = field(default=0.3, metadata={"help": "Model-wide failure rate (lower bound) above which every sizeable failure cluster is a pattern; 1 turns it off."})
    cooldown: float = field(default=3_600.0, metadata={"help": "Seconds between two retrain requests for one model."})
    max_requests: int = field(default=3, metadata={"help": "Retrain requests allowed per model per day."})

    def watch_factory(self):
        """A function ``model -> ModelWatch`` with these settings."""
        from pioneer.clustering import IncrementalClusterer
        from pioneer.monitor import ModelWatch
        from pioneer.trigger import EmergingPatternDetector, RetrainTrigger

        def make(model: str) -> ModelWatch:
            return ModelWatch(
                model,
                pass_sample_rate=self.pass_sample_rate,
                clusterer=IncrementalClusterer(
                    pass_sample_rate=self.pass_sample_rate, half_life=self.half_life,
                    recent_half_life=self.recent_half_life, seed=0,
                ),
                detector=EmergingPatternDetector(min_failures=self.min_failures, min_growth=self.min_growth,
                                                 broad_failure_rate=self.broad_failure_rate,
                                                 heartbeat=max(60.0, self.recent_half_life)),
                trigger=RetrainTrigger(cooldown=self.cooldown, max_requests=self.max_requests),
            )

        return make

"""The monitor's settings: flags override ``PIONEER_MONITOR_*`` variables, which override the defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from pioneer.monitor.watch import HALF_LIFE_TRACES, RECENT_HALF_LIFE_TRACES


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
    check_every: int = field(default=50, metadata={"help": "Traces of a model between two pattern checks (checks count traces, so any traffic rate reads the same)."})
    check_interval: float = field(default=1.0, metadata={"help": "Least seconds between two checks of a model (bounds the CPU at high traffic rates)."})
    checkpoint_interval: float = field(default=10.0, metadata={"help": "Seconds between checkpoints of a model's clusters."})
    metrics_port: int | None = field(default=None, metadata={"help": "Serve Prometheus /metrics on this port (None: off)."})
    # Clusters and patterns: counted in traces, so the same values hold at any request rate and in a replay
    half_life_traces: float = field(default=HALF_LIFE_TRACES, metadata={"help": "Traces after which a failure's weight in a cluster has halved."})
    recent_half_life_traces: float = field(default=RECENT_HALF_LIFE_TRACES, metadata={"help": "Traces of the recent window (recent failures, growth)."})
    min_failures: float = field(default=10.0, metadata={"help": "Recent failures a cluster needs to be an emerging pattern."})
    min_growth: float = field(default=2.0, metadata={"help": "Growth (recent vs long-run failure rate) an emerging pattern needs."})
    broad_failure_rate: float = field(default=0.3, metadata={"help": "Model-wide failure rate (lower bound) above which every sizeable failure cluster is a pattern; 1 turns it off."})
    # The trigger: evidence counted in traces; wall-clock limits only as caps a user chooses
    min_new_failures: int = field(default=25, metadata={"help": "New failures of the serving version (since its last request) that make a retrain request worth it, after a rejection too."})
    min_failure_rate: float = field(default=0.01, metadata={"help": "Failure rate the serving version must surely (Wilson lower bound) exceed for failures alone to request a retrain."})
    max_requests_per_day: int | None = field(default=None, metadata={"help": "Cap on retrain requests per model per day (None: uncapped)."})
    max_trainer_share: float = field(default=1.0, metadata={"help": "Cap on the share of time the trainer spends on one model, in (0, 1] (1: uncapped)."})
    answer_timeout: float = field(default=3_600.0, metadata={"help": "Seconds after which a retrain request the trainer never answered stops holding the next one back."})

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
                    pass_sample_rate=self.pass_sample_rate, half_life=self.half_life_traces,
                    recent_half_life=self.recent_half_life_traces, seed=0,
                ),
                detector=EmergingPatternDetector(min_failures=self.min_failures, min_growth=self.min_growth,
                                                 broad_failure_rate=self.broad_failure_rate,
                                                 heartbeat=self.recent_half_life_traces),
                trigger=RetrainTrigger(
                    min_new_failures=self.min_new_failures, min_failure_rate=self.min_failure_rate,
                    max_requests_per_day=self.max_requests_per_day, max_trainer_share=self.max_trainer_share,
                    answer_timeout=self.answer_timeout,
                ),
            )

        return make

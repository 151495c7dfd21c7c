"""The trainer worker's settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainerConfig:
    group_id: str = field(default="pioneer-trainer", metadata={"help": "Consumer group (and Faust app id) of the trainer's workers."})
    catch_up_timeout: float = field(default=60.0, metadata={"help": "Seconds to wait for the trace store to reach a request's time before training."})
    epsilon: int = field(default=2, metadata={"help": "Negative flips a release may make on the gate set, and on each earlier checkpoint's set."})
    pattern_fix_floor: float = field(default=0.5, metadata={"help": "Share of each target pattern's held-out failures a release must get right (the failures pattern of a broad retrain, the model's failures outside any emerging pattern, must instead fix more than it breaks: see progress_confidence)."})
    pattern_confidence: float | None = field(default=0.95, metadata={"help": "Judge a fix rate by its upper Wilson bound at this confidence (None: the observed rate)."})
    progress_confidence: float | None = field(default=0.95, metadata={"help": "A broad retrain's step must fix surely more than it breaks, by a one-sided sign test at this confidence; when no candidate of the search does, the last iteration's are judged by their counts (None: the counts from the start)."})
    coverage_below: float | None = field(default=None, metadata={"help": "Production score (see band_score) below which fixable failures outside the target patterns are trained on too (0: never; None: decided from the labels' sources)."})
    band_score: str = field(default="auto", metadata={"help": "Production's score that picks the band: auto (live when the labels are trusted), gate (its gate-set score) or live (its accuracy on its labelled traffic).", "choices": ["auto", "gate", "live"]})
    max_passes: int | None = field(default=None, metadata={"help": "Most recent passing traces a retrain uses for replay, hard negatives and the gate set (None: by task kind, 20,000 for a classifier, 2,000 otherwise)."})
    metrics_port: int | None = field(default=None, metadata={"help": "Serve Prometheus /metrics on this port (None: off)."})

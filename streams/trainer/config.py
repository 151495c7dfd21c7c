"""The trainer worker's settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainerConfig:
    group_id: str = field(default="pioneer-trainer", metadata={"help": "Consumer group (and Faust app id) of the trainer's workers."})
    catch_up_timeout: float = field(default=60.0, metadata={"help": "Seconds to wait for the trace store to reach a request's time before training."})
    epsilon: int = field(default=2, metadata={"help": "Negative flips a release may make on the gate set, and on each earlier checkpoint's set."})
    pattern_fix_floor: float = field(default=0.5, metadata={"help": "Share of each target pattern's held-out failures a release must get right."})
    pattern_confidence: float | None = field(default=None, metadata={"help": "Judge a fix rate by its upper Wilson bound at this confidence (None: the observed rate)."})
    # 0.80 is pioneer.retrain.recipes.DATA_BAND_BELOW, written out so the CLI's help does not import the retrainer.
    coverage_below: float = field(default=0.80, metadata={"help": "Production score (see band_score) below which fixable failures outside the target patterns are trained on too (0: never)."})
    band_score: str = field(default="gate", metadata={"help": "Production's score that picks the band: gate (its gate-set score) or live (its accuracy on its labelled traffic).", "choices": ["gate", "live"]})
    max_passes: int = field(default=2000, metadata={"help": "Most recent passing traces a retrain uses for replay, hard negatives and the gate set."})
    metrics_port: int | None = field(default=None, metadata={"help": "Serve Prometheus /metrics on this port (None: off)."})

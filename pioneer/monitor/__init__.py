"""What the monitor keeps per model: clusters of failures, emerging patterns, the retrain trigger."""

from pioneer.monitor.watch import (
    HALF_LIFE_TRACES,
    RECENT_HALF_LIFE_TRACES,
    Findings,
    ModelWatch,
    confusion_of,
    sampled,
)

__all__ = ["HALF_LIFE_TRACES", "RECENT_HALF_LIFE_TRACES", "Findings", "ModelWatch", "confusion_of", "sampled"]

"""What the monitor keeps per model: clusters of failures, emerging patterns, the retrain trigger."""

from pioneer.monitor.watch import Findings, ModelWatch, confusion_of, sampled

__all__ = ["Findings", "ModelWatch", "confusion_of", "sampled"]

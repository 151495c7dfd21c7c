"""From cluster statistics to error-pattern events, and from error patterns to retrain requests."""

from pioneer.trigger.base import Trigger
from pioneer.trigger.emerging import Check, EmergingPatternDetector
from pioneer.trigger.rates import estimate_failure_rate, failure_rate_lower_bound, wilson_lower
from pioneer.trigger.retrain import RetrainTrigger, request_id

__all__ = [
    "Check",
    "EmergingPatternDetector",
    "RetrainTrigger",
    "Trigger",
    "estimate_failure_rate",
    "failure_rate_lower_bound",
    "request_id",
    "wilson_lower",
]

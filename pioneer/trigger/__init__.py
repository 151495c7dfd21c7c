"""From cluster statistics to error-pattern events, and from what the monitor observes to retrain requests."""

from pioneer.trigger.base import Trigger
from pioneer.trigger.breadth import Breadth, choose_mode, measure_breadth
from pioneer.trigger.emerging import Check, EmergingPatternDetector
from pioneer.trigger.pacing import Evidence, Pace, PacingRules, TrainerState, pace
from pioneer.trigger.rates import estimate_failure_rate, failure_rate_lower_bound, wilson_lower
from pioneer.trigger.retrain import FAILURES_PREFIX, Observation, RetrainTrigger, failures_pattern_id, request_id

__all__ = [
    "FAILURES_PREFIX",
    "Breadth",
    "Check",
    "EmergingPatternDetector",
    "Evidence",
    "Observation",
    "Pace",
    "PacingRules",
    "RetrainTrigger",
    "TrainerState",
    "Trigger",
    "choose_mode",
    "estimate_failure_rate",
    "failure_rate_lower_bound",
    "failures_pattern_id",
    "measure_breadth",
    "pace",
    "request_id",
    "wilson_lower",
]

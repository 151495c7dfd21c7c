"""When the next retrain request is due: enough new evidence, a free trainer, and room in the user's budget.

Everything here is counted in traces, so the same rules hold at 1 request/s, at 1,000/s and in a replay at
any speed. A request is due when, for the version serving now:

* the monitor sees its traffic (not the traffic of a version a release replaced);
* there is new evidence: an emerging pattern not yet named for this version, or at least ``min_new_failures``
  failures since the last request for it (since it went live, for a new version) while the Wilson lower bound
  of its failure rate is at least ``min_failure_rate``. A rejection asks for the same: the next attempt sees
  new failures, a grown gate set and R, and a model that keeps failing keeps the trainer busy rather than idle
  (the user's budget is the brake on compute, not a wait that grows with each rejection);
* the trainer is free: no request is waiting for its answer (a release, a rejection or a failure);
* the user's budget, if any, has room.

The first condition that fails is the reason to wait; each decision carries its figures.

>>> ev = Evidence(traces=1000, failures=130, new_failures=30, new_patterns=0)
>>> pace(ev, TrainerState()).reason
'new_failures'
>>> pace(ev, TrainerState(outstanding="rr-1")).reason
'trainer_busy'
>>> pace(Evidence(traces=1000, failures=130, new_failures=20, new_patterns=0), TrainerState()).reason
'not_enough_new_failures'
"""

from __future__ import annotations

from dataclasses import dataclass

from pioneer.trigger.rates import wilson_lower, z_score


@dataclass(frozen=True, slots=True)
class PacingRules:
    """The pacing's thresholds (counts of traces and failures, never seconds)."""

    min_new_failures: int = 25
    """New failures that make a new request worth the trainer's time."""
    min_failure_rate: float = 0.01
    """Failure rate the version must surely (Wilson lower bound) exceed for failures alone to ask for a retrain."""
    confidence: float = 0.95


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the monitor has seen of the version serving now, in traces."""

    traces: int
    failures: int
    new_failures: int
    """Failures since the last request for this version, or since it went live."""
    new_patterns: int
    """Emerging patterns holding failures of this version that no request for it has named."""


@dataclass(frozen=True, slots=True)
class TrainerState:
    """What the monitor knows of the trainer and of the budget."""

    outstanding: str | None = None
    """The request waiting for its answer, if any."""
    replaced: bool = False
    """The traffic seen last was served by a version a release has since replaced."""
    budget_wait: str | None = None
    """Why the user's budget holds requests back now, if it does."""


@dataclass(frozen=True, slots=True)
class Pace:
    """A pacing decision: due or not, the reason, and the figures behind it."""

    due: bool
    reason: str
    detail: str
    required: int
    failure_rate_lower: float


def pace(evidence: Evidence, trainer: TrainerState, rules: PacingRules = PacingRules()) -> Pace:
    """Whether a request is due now, and why (or why not)."""
    required = rules.min_new_failures
    lower = wilson_lower(evidence.failures, evidence.traces, z_score(rules.confidence))
    figures = (
        f"{evidence.new_failures} new failures ({required} needed), {evidence.new_patterns} new patterns; "
        f"{evidence.failures} failures in {evidence.traces} traces (failure rate >= {lower:.3f})"
    )

    def wait(reason: str, why: str) -> Pace:
        return Pace(False, reason, f"{why}; {figures}", required, lower)

    if evidence.failures == 0:
        return wait("no_failures", "the version has no failures yet")
    if trainer.replaced:
        return wait("awaiting_new_version", "the traffic seen is still from the version the last release replaced")
    if evidence.new_patterns > 0:
        reason = "new_patterns"
    elif evidence.new_failures < required:
        return wait("not_enough_new_failures", "not enough new evidence since the last request")
    elif lower < rules.min_failure_rate:
        return wait("failure_rate_low", f"the failure rate is not surely above {rules.min_failure_rate}")
    else:
        reason = "new_failures"
    if trainer.outstanding is not None:
        return wait("trainer_busy", f"the trainer has not answered {trainer.outstanding} yet")
    if trainer.budget_wait is not None:
        return wait("budget", trainer.budget_wait)
    return Pace(True, reason, f"the trainer is free; {figures}", required, lower)

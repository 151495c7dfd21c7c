"""Turn what the monitor observes into retrain requests: the mode from failure breadth, the timing from evidence.

Each update gets an :class:`Observation` of the version serving now at one check (its error-pattern events, its
traces and failures, how widely they spread, and each emerging pattern's share of them). The trigger then

1. picks the mode from the breadth (:mod:`pioneer.trigger.breadth`): ``concentrated`` names the emerging
   patterns and the failures of the largest clusters that no pattern holds yet, ``broad`` names the version's
   failures as a whole, ``both`` names the patterns and the failures outside them (failures are named as one
   pattern, :func:`failures_pattern_id`, whose members the monitor publishes);
2. paces it (:mod:`pioneer.trigger.pacing`): new evidence since the last request, a free trainer (the monitor
   passes on releases, rejections and failures with :meth:`RetrainTrigger.answer`), room in the user's budget.

Every update leaves a :class:`~pioneer.events.TriggerDecision` in ``decision_`` (a request's copy travels in
the request), so a reader can see why a retrain happened or did not. Nothing here reads a wall clock: times
are event times, used only for the user's optional caps and for giving up on a request nobody answers.

Request ids hash (model, version, pattern ids, attempt), so a replay from an older checkpoint makes the same
requests with the same ids, which consumers drop as duplicates.

>>> from dataclasses import replace
>>> from pioneer.events import ModelRef
>>> from pioneer.trigger.breadth import Breadth
>>> trig = RetrainTrigger()
>>> prod = ModelRef(name="intents", version="sha256-abc")
>>> seen = Observation(time=100.0, traces=400, failures=60, breadth=Breadth(60, 0, 0.2, 30, 25))
>>> (req,) = trig.update(seen, model=prod).fired
>>> req.decision.mode, req.decision.pacing, [p.pattern_id for p in req.patterns] == [failures_pattern_id(prod, 0)]
('broad', 'new_failures', True)
>>> more = Observation(time=110.0, traces=600, failures=90, breadth=Breadth(90, 0, 0.2, 40, 30))
>>> trig.update(more, model=prod).decision_.pacing      # no answer yet
'trainer_busy'
>>> trig.answer(req.request_id, "rejected", now=150.0)
>>> d = trig.update(replace(more, time=160.0), model=prod).decision_      # 30 new failures: the trainer is free
>>> d.pacing, d.rejections, d.new_failures, d.required_failures
('new_failures', 1, 30, 25)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import orjson

from pioneer.base import check_number
from pioneer.errors import ConfigError
from pioneer.events import Budget, ErrorPattern, ModelRef, PatternRef, RetrainRequest, TriggerDecision
from pioneer.trigger.base import Trigger
from pioneer.trigger.breadth import BROAD_SHARE, CONCENTRATED_SHARE, Breadth, choose_mode
from pioneer.trigger.pacing import Evidence, Pace, PacingRules, TrainerState, pace

STATE_VERSION = 2
VERSIONS_KEPT = 16
"""Versions per model whose requests are remembered (older versions are no longer served)."""
ANSWERS_KEPT = 256
"""Answered request ids remembered, so an answer read twice (after a restart) counts once."""
DAY = 86_400.0
FAILURES_PREFIX = "p-failures-"
OUTCOMES = ("released", "rejected", "failed")
_FAILURES_SCOPE = {"broad": "", "both": " outside the emerging patterns",
                   "concentrated": " in its largest clusters outside the emerging patterns"}


def request_id(model: str, version: str, pattern_ids: Sequence[str], attempt: int = 0) -> str:
    """Deterministic id of the ``attempt``-th request for these patterns of this model version.

    >>> request_id("intents", "v1", ["p-2", "p-1"]) == request_id("intents", "v1", ["p-1", "p-2"])
    True
    """
    key = "|".join([model, version, *sorted(set(pattern_ids)), *([f"#{attempt}"] if attempt else [])])
    return f"rr-{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def failures_pattern_id(model: ModelRef, attempt: int) -> str:
    """Id of the pattern that stands for a version's failures as a whole in its ``attempt``-th request."""
    digest = hashlib.sha1(f"{model.name}|{model.version}|{attempt}".encode()).hexdigest()[:10]
    return f"{FAILURES_PREFIX}{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What the monitor has seen of the version serving now at one check: the trigger's evidence."""

    time: float
    """Event time of the check, in seconds."""
    patterns: Sequence[ErrorPattern] = ()
    """The error-pattern events of this check."""
    traces: int
    failures: int
    breadth: Breadth
    """How the version's recent failures spread over clusters and labels."""
    pattern_failures: Mapping[str, int] = field(default_factory=dict)
    """Failures of this version in each emerging pattern (patterns holding none are stale: not named)."""


@dataclass(slots=True)
class _ModelState:
    active: dict[str, PatternRef] = field(default_factory=dict)
    requested: dict[str, list[str]] = field(default_factory=dict)  # version -> pattern ids named so far
    attempts: dict[str, int] = field(default_factory=dict)  # version -> requests made
    failures_at_request: dict[str, int] = field(default_factory=dict)  # version -> its failures at the last one
    outstanding: tuple[str, float] | None = None  # (request id, event time)
    rejections: int = 0
    replaced: list[str] = field(default_factory=list)
    fire_times: list[float] = field(default_factory=list)
    last_busy: tuple[float, float] | None = None  # (answered at, seconds busy) of the last answered request


class RetrainTrigger(Trigger[Observation, ModelRef]):
    """Emits ``RetrainRequest`` events when the evidence says a retrain is due and the trainer is free.

    Parameters
    ----------
    min_new_failures
        New failures (of the serving version, since its last request) that make a request worth it, >= 1.
    min_failure_rate
        Wilson lower bound of the version's failure rate needed for failures alone to ask, in [0, 1).
    max_requests_per_day
        Optional user cap on requests per model per 86,400 s of event time (None: uncapped).
    max_trainer_share
        Optional user cap on the share of time the trainer spends on this model, in (0, 1] (1: uncapped).
    answer_timeout
        Event-time seconds after which an unanswered request no longer holds the next one back, > 0.
    max_iterations, max_candidates, max_train_seconds
        The ``Budget`` each request grants the trainer.
    mode
        ``"pioneer"`` (diagnose, curate, gate) or ``"naive"`` (retrain on raw traces), for comparisons.
    requested_by
        Written into each request, to tell automatic requests from manual ones.

    Attributes
    ----------
    decision_
        The last update's decision (a request's, or why none was made).
    decisions_
        How many updates ended in each (due or wait, reason) so far.
    pending_
        Emerging pattern ids not yet named for the model's version, per model.
    """

    def __init__(
        self,
        min_new_failures: int = 25,
        min_failure_rate: float = 0.01,
        max_requests_per_day: int | None = None,
        max_trainer_share: float = 1.0,
        answer_timeout: float = 3_600.0,
        max_iterations: int = 3,
        max_candidates: int = 2,
        max_train_seconds: float | None = None,
        mode: str = "pioneer",
        requested_by: str = "monitor",
    ) -> None:
        _check_params(locals())
        self.min_new_failures = min_new_failures
        self.min_failure_rate = min_failure_rate
        self.max_requests_per_day = max_requests_per_day
        self.max_trainer_share = max_trainer_share
        self.answer_timeout = answer_timeout
        self.max_iterations = max_iterations
        self.max_candidates = max_candidates
        self.max_train_seconds = max_train_seconds
        self.mode = mode
        self.requested_by = requested_by
        self._reset()

    def _reset(self) -> None:
        self._rules = PacingRules(min_new_failures=self.min_new_failures, min_failure_rate=self.min_failure_rate)
        self._models: dict[str, _ModelState] = {}
        self._answered: list[str] = []
        self._fired: list[RetrainRequest] = []
        self._decision: TriggerDecision | None = None
        self._counts: Counter[tuple[bool, str]] = Counter()

    # ------------------------------------------------------------------------------------------------ results

    @property
    def fired(self) -> tuple[RetrainRequest, ...]:
        """Requests made by the last update, to publish on the retrain-request topic."""
        return tuple(self._fired)

    @property
    def decision_(self) -> TriggerDecision | None:
        return self._decision

    @property
    def decisions_(self) -> dict[tuple[bool, str], int]:
        return dict(self._counts)

    @property
    def pending_(self) -> dict[str, tuple[str, ...]]:
        return {m: tuple(sorted(set(s.active) - {p for ids in s.requested.values() for p in ids}))
                for m, s in self._models.items()}

    def outstanding_(self, model: str) -> str | None:
        """The request of ``model`` waiting for the trainer's answer, if any."""
        state = self._models.get(model)
        return None if state is None or state.outstanding is None else state.outstanding[0]

    # ------------------------------------------------------------------------------------------------ answers

    def answer(
        self,
        request_id: str | None,
        outcome: str,
        *,
        now: float,
        model: str | None = None,
        replaced: str | None = None,
        restored: str | None = None,
    ) -> None:
        """The trainer's answer to a request (``released``, ``rejected`` or ``failed``), or an alias move.

        ``replaced`` names the version a release or rollback took production from (its traffic is no longer
        evidence), ``restored`` the version a rollback went back to. Reading an answer twice changes nothing.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}; got {outcome!r}")
        key = f"{request_id}|{outcome}|{replaced}|{restored}"
        if key in self._answered:
            return
        self._answered = (self._answered + [key])[-ANSWERS_KEPT:]
        owners = [self._models[model]] if model in self._models else []
        owners += [s for s in self._models.values() if s.outstanding and s.outstanding[0] == request_id]
        for state in {id(s): s for s in owners}.values():
            if state.outstanding is not None and state.outstanding[0] == request_id:
                state.last_busy = (float(now), max(0.0, now - state.outstanding[1]))
                state.outstanding = None
                if outcome != "released":
                    state.rejections += 1
            if outcome == "released":
                state.rejections = 0
            if replaced is not None and replaced not in state.replaced:
                state.replaced = (state.replaced + [replaced])[-VERSIONS_KEPT:]
            if restored is not None and restored in state.replaced:
                state.replaced.remove(restored)

    # ------------------------------------------------------------------------------------------------ update

    def update(self, observed: Observation, /, *, model: ModelRef) -> Self:
        """Take what was observed of ``model`` (with its new pattern events), then request a retrain if one is due."""
        now = observed.time
        if not isinstance(now, (int, float)) or not math.isfinite(now):
            raise ValueError(f"now must be an event time in seconds; got {now!r}")
        self._fired = []
        state = self._models.setdefault(model.name, _ModelState())
        self._follow(state, observed.patterns, model.name)
        live = {pid: n for pid, n in observed.pattern_failures.items() if n > 0 and pid in state.active}
        named = set(state.requested.get(model.version, ()))
        base = state.failures_at_request.get(model.version, 0)
        evidence = Evidence(
            traces=observed.traces,
            failures=observed.failures,
            new_failures=max(0, observed.failures - base),
            new_patterns=len(set(live) - named),
        )
        mode = choose_mode(observed.breadth)
        result = pace(evidence, self._trainer(state, model.version, now), self._rules)
        if result.due and self._awaiting_patterns(observed.breadth, evidence, result):
            result = Pace(False, "awaiting_patterns", "a few clusters hold most failures but no pattern has emerged "
                          f"from them yet (asking anyway at {2 * result.required} new failures); " + result.detail,
                          result.required, result.failure_rate_lower)
        self._decision = _record(mode, result, evidence, observed, state.rejections)
        self._counts[(result.due, result.reason)] += 1
        if result.due:
            self._fire(state, model, now, mode, live, observed)
        return self

    def _follow(self, state: _ModelState, patterns: Sequence[ErrorPattern], model: str) -> None:
        for p in sorted(patterns, key=lambda p: (p.timestamp, p.event_id)):
            if p.model.name != model or p.pattern_id.startswith(FAILURES_PREFIX):
                continue
            if p.emerging and p.state != "merged":
                state.active[p.pattern_id] = PatternRef(
                    pattern_id=p.pattern_id, name=p.name, failures=p.failures_recent, failure_rate=p.failure_rate
                )
            else:
                state.active.pop(p.pattern_id, None)

    @staticmethod
    def _awaiting_patterns(breadth: Breadth, evidence: Evidence, result: Pace) -> bool:
        """Failures sit in a few clusters that the detector has not confirmed yet: give it a little more evidence."""
        return (
            result.reason == "new_failures"
            and breadth.top_share >= CONCENTRATED_SHARE
            and breadth.pattern_share < BROAD_SHARE
            and evidence.new_failures < 2 * result.required
        )

    def _trainer(self, state: _ModelState, version: str, now: float) -> TrainerState:
        if state.outstanding is not None and now - state.outstanding[1] >= self.answer_timeout:
            state.outstanding = None  # the trainer never answered: do not wait for it forever
        return TrainerState(
            outstanding=None if state.outstanding is None else state.outstanding[0],
            replaced=version in state.replaced,
            budget_wait=self._budget_wait(state, now),
        )

    def _budget_wait(self, state: _ModelState, now: float) -> str | None:
        state.fire_times = [t for t in state.fire_times if now - t < DAY]
        if self.max_requests_per_day is not None and len(state.fire_times) >= self.max_requests_per_day:
            return f"{len(state.fire_times)} requests in the last day (max_requests_per_day={self.max_requests_per_day})"
        if self.max_trainer_share < 1.0 and state.last_busy is not None:
            answered, busy = state.last_busy
            free_at = answered + busy * (1.0 - self.max_trainer_share) / self.max_trainer_share
            if now < free_at:
                return (f"the trainer spent {busy:.0f} s on the last request; max_trainer_share="
                        f"{self.max_trainer_share} keeps it idle until {free_at - now:.0f} s from now")
        return None

    def _fire(
        self, state: _ModelState, model: ModelRef, now: float, mode: str, live: Mapping[str, int], observed: Observation
    ) -> None:
        attempt = state.attempts.get(model.version, 0)
        refs = []
        if mode != "broad":
            refs = sorted((state.active[pid] for pid in live), key=lambda r: (-live[r.pattern_id], r.pattern_id))
        b = observed.breadth
        rest = {"broad": b.failures, "both": b.failures - b.in_patterns, "concentrated": b.top_outside_patterns}[mode]
        if rest > 0 or not refs:
            refs.append(PatternRef(
                pattern_id=failures_pattern_id(model, attempt),
                name=f"failures of {model.version}" + _FAILURES_SCOPE[mode],
                failures=rest,
                failure_rate=round(observed.failures / observed.traces, 6) if observed.traces else None,
            ))
        rid = request_id(model.name, model.version, [r.pattern_id for r in refs], attempt)
        self._fired.append(self._request(rid, model, refs, now))
        state.attempts[model.version] = attempt + 1
        state.failures_at_request[model.version] = observed.failures
        state.requested[model.version] = sorted(set(state.requested.get(model.version, [])) | set(live))
        state.outstanding = (rid, float(now))
        state.fire_times.append(float(now))
        for table in (state.attempts, state.failures_at_request, state.requested):
            for old in list(table)[: max(0, len(table) - VERSIONS_KEPT)]:
                del table[old]

    def _request(self, rid: str, model: ModelRef, refs: list[PatternRef], now: float) -> RetrainRequest:
        d = self._decision
        assert d is not None
        share = "" if d.pattern_share is None else f", {d.pattern_share:.0%} of them in emerging patterns"
        return RetrainRequest(
            event_id=rid,
            timestamp=float(now),
            request_id=rid,
            model=ModelRef(name=model.name, version=model.version),
            patterns=refs,
            reason=f"{d.mode}: {d.failures} failures over {d.labels} labels and {d.clusters} clusters{share}; "
            f"{d.pacing}: {d.detail}."[:2000],
            budget=Budget(
                max_iterations=self.max_iterations,
                max_candidates=self.max_candidates,
                max_train_seconds=self.max_train_seconds,
            ),
            mode=self.mode,  # type: ignore[arg-type]
            requested_by=self.requested_by,
            decision=dataclasses.replace(d),
        )

    # ------------------------------------------------------------------------------------------------ persistence

    def to_bytes(self) -> bytes:
        """State as JSON bytes (parameters included); restore with :meth:`from_bytes`."""
        models = {}
        for name, s in self._models.items():
            models[name] = {
                "active": [[r.pattern_id, r.name, r.failures, r.failure_rate] for r in s.active.values()],
                "requested": s.requested, "attempts": s.attempts, "failures_at_request": s.failures_at_request,
                "outstanding": s.outstanding, "rejections": s.rejections, "replaced": s.replaced,
                "fire_times": s.fire_times, "last_busy": s.last_busy,
            }
        return orjson.dumps({"version": STATE_VERSION, "class": type(self).__name__, "params": self.get_params(),
                             "models": models, "answered": self._answered})

    @classmethod
    def from_bytes(cls, blob: bytes) -> RetrainTrigger:
        meta = orjson.loads(blob)
        if meta.get("class") != cls.__name__ or meta.get("version") != STATE_VERSION:
            raise ValueError(f"state is for {meta.get('class')} v{meta.get('version')}, not {cls.__name__}")
        obj = cls(**meta["params"])
        for name, s in meta["models"].items():
            obj._models[name] = _ModelState(
                active={pid: PatternRef(pattern_id=pid, name=n, failures=f, failure_rate=r) for pid, n, f, r in s["active"]},
                requested={v: list(ids) for v, ids in s["requested"].items()},
                attempts={v: int(n) for v, n in s["attempts"].items()},
                failures_at_request={v: int(n) for v, n in s["failures_at_request"].items()},
                outstanding=None if s["outstanding"] is None else (str(s["outstanding"][0]), float(s["outstanding"][1])),
                rejections=int(s["rejections"]),
                replaced=list(s["replaced"]),
                fire_times=[float(t) for t in s["fire_times"]],
                last_busy=None if s["last_busy"] is None else (float(s["last_busy"][0]), float(s["last_busy"][1])),
            )
        obj._answered = list(meta["answered"])
        return obj


def _record(mode: str, result: Pace, evidence: Evidence, observed: Observation, rejections: int) -> TriggerDecision:
    b = observed.breadth
    return TriggerDecision(
        mode=mode,  # type: ignore[arg-type]
        pacing=result.reason,
        detail=result.detail,
        traces=evidence.traces,
        failures=evidence.failures,
        failure_rate_lower=round(result.failure_rate_lower, 6),
        new_failures=evidence.new_failures,
        required_failures=result.required,
        pattern_share=round(b.pattern_share, 6),
        top_share=round(b.top_share, 6),
        clusters=b.clusters,
        labels=b.labels,
        rejections=rejections,
    )


def _check_params(p: dict[str, Any]) -> None:
    def number(name: str, low: float, high: float = math.inf, *, integer: bool = False, none: bool = False) -> None:
        check_number(name, p[name], low, high, integer=integer, optional=none)

    number("min_new_failures", 1, integer=True)
    number("min_failure_rate", 0.0, 1.0 - 1e-9)
    number("max_requests_per_day", 1, integer=True, none=True)
    number("max_trainer_share", 1e-9, 1.0)
    number("answer_timeout", 1e-9, 1e12)
    for name in ("max_iterations", "max_candidates"):
        number(name, 1, integer=True)
    number("max_train_seconds", 0.0, none=True)
    if p["mode"] not in ("pioneer", "naive"):
        raise ConfigError(f"mode must be 'pioneer' or 'naive'; got {p['mode']!r}")
    if not isinstance(p["requested_by"], str) or not p["requested_by"]:
        raise ConfigError(f"requested_by must be a non-empty string; got {p['requested_by']!r}")

"""Turn emerging error patterns into retrain requests, with a cooldown, a budget and idempotent ids.

The trigger follows the error-pattern stream of each model: a pattern is *pending* while its latest event says
``emerging`` and no request has named it for the model's current version yet. On each update, if something is
pending, the model's cooldown has passed since its last request and fewer than ``max_requests`` requests were
made in the last ``period`` seconds, one ``RetrainRequest`` names every pending pattern. Times are event times.

The request id is a hash of (model, version, pattern ids), so the same request made again (after a restart
from an older checkpoint, or by a replay) carries the same id and consumers drop the duplicate; a new version
or a new set of patterns makes a new id. Alertmanager groups and dedupes alerts the same way.

After a new version goes live, clusters still hold the old version's decaying failures. A pattern already
requested for an older version is therefore requested again only on evidence against the new one: an
emerging event at least ``cooldown`` seconds after the version was first seen, whose latest failure
(``last_seen``) is from the new version's time.

>>> from pioneer.events import ErrorPattern, ModelName, ModelRef
>>> def pattern(pid, t, emerging=True):
...     return ErrorPattern(event_id=f"pat-{pid}", timestamp=t, pattern_id=pid, model=ModelName(name="intents"),
...         state="growing", emerging=emerging, name="pin / reset", size=30.0, failures_recent=25,
...         failure_rate=0.8, failure_rate_lower=0.6, growth=4.0, confusions=[], exemplars=[],
...         first_seen=t - 60, last_seen=t)
>>> trig = RetrainTrigger(cooldown=3600.0, max_requests=2, period=86400.0)
>>> prod = ModelRef(name="intents", version="sha256-abc")
>>> [r.request_id for r in trig.update([pattern("p-1", 100.0)], model=prod, now=100.0).fired]
['rr-intents-71f960c32e27']
>>> trig.update([pattern("p-2", 200.0)], model=prod, now=200.0).fired    # within the cooldown: held back
()
>>> [[p.pattern_id for p in r.patterns] for r in trig.update([], model=prod, now=3800.0).fired]
[['p-2']]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any, Self

import orjson

from pioneer.errors import ConfigError
from pioneer.events import Budget, ErrorPattern, ModelRef, PatternRef, RetrainRequest
from pioneer.trigger.base import Trigger

STATE_VERSION = 1
VERSIONS_KEPT = 16
"""Versions per model whose requested patterns are remembered (older versions are no longer served)."""


def request_id(model: str, version: str, pattern_ids: Sequence[str]) -> str:
    """Deterministic id of a request for these patterns of this model version.

    >>> request_id("intents", "v1", ["p-2", "p-1"]) == request_id("intents", "v1", ["p-1", "p-2"])
    True
    """
    key = "|".join([model, version, *sorted(set(pattern_ids))])
    return f"rr-{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class RetrainTrigger(Trigger):
    """Emits ``RetrainRequest`` events for emerging patterns, rate-limited per model.

    Parameters
    ----------
    cooldown
        Minimum seconds (event time) between two requests for the same model, >= 0.
    max_requests
        Requests allowed per model within any ``period`` seconds, >= 1.
    period
        Length in seconds of the budget window, > 0.
    max_iterations, max_candidates, max_train_seconds
        The ``Budget`` each request grants the trainer.
    mode
        ``"pioneer"`` (diagnose, curate, gate) or ``"naive"`` (retrain on raw traces), for comparisons.
    requested_by
        Written into each request, to tell automatic requests from manual ones.

    Attributes
    ----------
    pending_
        Pattern ids waiting for a request, per model.
    suppressed_
        Updates where something was pending but the cooldown or budget held it back.
    """

    def __init__(
        self,
        cooldown: float = 3_600.0,
        max_requests: int = 3,
        period: float = 86_400.0,
        max_iterations: int = 3,
        max_candidates: int = 2,
        max_train_seconds: float | None = None,
        mode: str = "pioneer",
        requested_by: str = "monitor",
    ) -> None:
        for name, value, low in (("cooldown", cooldown, 0.0), ("period", period, 1e-9)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < math.inf:
                raise ConfigError(f"{name} must be a finite number of seconds >= {low}; got {value!r}")
        counts = (("max_requests", max_requests), ("max_iterations", max_iterations), ("max_candidates", max_candidates))
        for name, value in counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
        seconds = max_train_seconds
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0):
            raise ConfigError(f"max_train_seconds must be a number >= 0 or None; got {max_train_seconds!r}")
        if mode not in ("pioneer", "naive"):
            raise ConfigError(f"mode must be 'pioneer' or 'naive'; got {mode!r}")
        if not isinstance(requested_by, str) or not requested_by:
            raise ConfigError(f"requested_by must be a non-empty string; got {requested_by!r}")
        self.cooldown = cooldown
        self.max_requests = max_requests
        self.period = period
        self.max_iterations = max_iterations
        self.max_candidates = max_candidates
        self.max_train_seconds = max_train_seconds
        self.mode = mode
        self.requested_by = requested_by
        self._reset()

    def _reset(self) -> None:
        self._active: dict[str, dict[str, PatternRef]] = {}
        self._evidence: dict[str, dict[str, tuple[float, float]]] = {}  # (event time, last_seen) per pattern
        self._since: dict[str, dict[str, float]] = {}  # when each version was first seen
        self._requested: dict[str, dict[str, set[str]]] = {}
        self._fire_times: dict[str, list[float]] = {}
        self._last_fire: dict[str, float] = {}
        self._fired: list[RetrainRequest] = []
        self._suppressed = 0

    @property
    def fired(self) -> tuple[RetrainRequest, ...]:
        """Requests made by the last update, to publish on the retrain-request topic."""
        return tuple(self._fired)

    @property
    def pending_(self) -> dict[str, tuple[str, ...]]:
        """Pattern ids a request would name now, per model (for its latest version)."""
        return {m: tuple(sorted(self._pending(m, self._latest_version(m)))) for m in self._active}

    @property
    def suppressed_(self) -> int:
        return self._suppressed

    def _latest_version(self, model: str) -> str | None:
        since = self._since.get(model, {})
        return max(since, key=since.__getitem__) if since else None

    def _pending(self, model: str, version: str | None) -> list[str]:
        requested = self._requested.get(model, {})
        here = requested.get(version, set()) if version is not None else set()
        before = set().union(*(ids for v, ids in requested.items() if v != version))
        since = self._since.get(model, {}).get(version, math.inf) if version is not None else math.inf
        out = []
        for pid in self._active.get(model, {}):
            if pid in here:
                continue
            if pid in before:
                stamp, last_seen = self._evidence[model][pid]
                if stamp < since + self.cooldown or last_seen < since:
                    continue  # no evidence yet that the new version fails on it too
            out.append(pid)
        return out

    def update(  # type: ignore[override]
        self, patterns: Sequence[ErrorPattern], *, model: ModelRef, now: float
    ) -> Self:
        """Take this model's new pattern events, then request a retrain if one is due and allowed."""
        if not isinstance(now, (int, float)) or not math.isfinite(now):
            raise ValueError(f"now must be an event time in seconds; got {now!r}")
        self._fired = []
        active = self._active.setdefault(model.name, {})
        evidence = self._evidence.setdefault(model.name, {})
        since = self._since.setdefault(model.name, {})
        since.setdefault(model.version, float(now))
        for old in sorted(since, key=since.__getitem__)[: max(0, len(since) - VERSIONS_KEPT)]:
            del since[old]
        for p in sorted(patterns, key=lambda p: (p.timestamp, p.event_id)):
            if p.model.name != model.name:
                continue
            if p.emerging and p.state != "merged":
                active[p.pattern_id] = PatternRef(
                    pattern_id=p.pattern_id, name=p.name, failures=p.failures_recent, failure_rate=p.failure_rate
                )
                evidence[p.pattern_id] = (p.timestamp, p.last_seen)
            else:
                active.pop(p.pattern_id, None)
                evidence.pop(p.pattern_id, None)
        pending = self._pending(model.name, model.version)
        if not pending:
            return self
        times = [t for t in self._fire_times.get(model.name, []) if now - t < self.period]
        self._fire_times[model.name] = times
        last = self._last_fire.get(model.name)
        if (last is not None and now - last < self.cooldown) or len(times) >= self.max_requests:
            self._suppressed += 1
            return self
        refs = sorted((active[pid] for pid in pending), key=lambda r: (-(r.failures or 0), r.pattern_id))
        self._fired.append(self._request(model, refs, now))
        times.append(now)
        self._last_fire[model.name] = float(now)
        versions = self._requested.setdefault(model.name, {})
        versions.setdefault(model.version, set()).update(pending)
        for old in list(versions)[: max(0, len(versions) - VERSIONS_KEPT)]:
            del versions[old]
        return self

    def _request(self, model: ModelRef, refs: list[PatternRef], now: float) -> RetrainRequest:
        rid = request_id(model.name, model.version, [r.pattern_id for r in refs])
        head = refs[0]
        rate = "" if head.failure_rate is None else f", failure rate {head.failure_rate:.2f}"
        more = f" and {len(refs) - 1} more" if len(refs) > 1 else ""
        return RetrainRequest(
            event_id=rid,
            timestamp=float(now),
            request_id=rid,
            model=ModelRef(name=model.name, version=model.version),
            patterns=[
                PatternRef(pattern_id=r.pattern_id, name=r.name, failures=r.failures, failure_rate=r.failure_rate)
                for r in refs
            ],
            reason=f"Emerging pattern {head.pattern_id} ({head.name}): {head.failures} recent failures{rate}{more}.",
            budget=Budget(
                max_iterations=self.max_iterations,
                max_candidates=self.max_candidates,
                max_train_seconds=self.max_train_seconds,
            ),
            mode=self.mode,  # type: ignore[arg-type]
            requested_by=self.requested_by,
        )

    # ------------------------------------------------------------------------------------------------ persistence

    def to_bytes(self) -> bytes:
        """State as JSON bytes (parameters included); restore with :meth:`from_bytes`."""
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "class": type(self).__name__,
            "params": self.get_params(),
            "active": {
                m: [[r.pattern_id, r.name, r.failures, r.failure_rate, *self._evidence[m][r.pattern_id]]
                    for r in refs.values()]
                for m, refs in self._active.items()
            },
            "since": self._since,
            "requested": {m: [[v, sorted(ids)] for v, ids in vs.items()] for m, vs in self._requested.items()},
            "fire_times": self._fire_times,
            "last_fire": self._last_fire,
            "suppressed": self._suppressed,
        }
        return orjson.dumps(state)

    @classmethod
    def from_bytes(cls, blob: bytes) -> RetrainTrigger:
        meta = orjson.loads(blob)
        if meta.get("class") != cls.__name__ or meta.get("version") != STATE_VERSION:
            raise ValueError(f"state is for {meta.get('class')} v{meta.get('version')}, not {cls.__name__}")
        obj = cls(**meta["params"])
        active = meta["active"]
        obj._active = {
            m: {pid: PatternRef(pattern_id=pid, name=name, failures=f, failure_rate=r) for pid, name, f, r, _, _ in refs}
            for m, refs in active.items()
        }
        obj._evidence = {m: {row[0]: (float(row[4]), float(row[5])) for row in refs} for m, refs in active.items()}
        obj._since = {m: {v: float(t) for v, t in vs.items()} for m, vs in meta["since"].items()}
        obj._requested = {m: {v: set(ids) for v, ids in vs} for m, vs in meta["requested"].items()}
        obj._fire_times = {m: [float(t) for t in ts] for m, ts in meta["fire_times"].items()}
        obj._last_fire = {m: float(t) for m, t in meta["last_fire"].items()}
        obj._suppressed = int(meta["suppressed"])
        return obj

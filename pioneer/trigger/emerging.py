"""Decide which clusters are emerging error patterns, and say so as ``ErrorPattern`` events.

A cluster passes a check when all of these hold at the snapshot time (defaults in brackets):

* it has at least ``min_failures`` recent failures [10], so a handful of odd inputs never counts;
* the lower confidence bound of its failure rate (Wilson, on the passes actually sampled) is at least
  ``min_failure_rate`` [0.1] and above ``min_lift`` times the global failure rate [1.5], so it surely fails
  more often than traffic in general (a cluster covers a region of embedding space, which also holds
  neighbouring intents' passes, so its rate is lower than the rate of the inputs that started it);
* its growth (recent against long-run failure rate, relative to all traffic) is at least ``min_growth`` [2.0],
  so a long-standing weakness that is not getting worse does not fire again and again.

A model that fails broadly (the lower bound of its failure rate over all recent traffic is at least
``broad_failure_rate`` [0.3]) cannot show either contrast: no region can fail 1.5 times as often as traffic that
already fails half the time, and a weakness present from the first request never grows. While that holds, lift
and growth are waived and every cluster with enough failures and a failure-rate lower bound of at least
``min_failure_rate`` passes: the largest failure clusters are the patterns to train on. A weak first model (a
tagger trained on 150 sentences fails on two thirds of news sentences) is the case this covers.

It becomes *emerging* after passing ``hold_checks`` consecutive checks [2] and stops after failing
``release_checks`` consecutive checks [3] (hysteresis against flapping). An emerging cluster is published
when it starts emerging, when its state or flag changes, and at least every ``heartbeat`` seconds of event
time [600]; once published it is followed until it merges into another cluster (``state="merged"``,
``merged_into`` set) or disappears (a last ``fading`` event). The defaults keep a stream without drift quiet and
find planted patterns (``scripts/bench_detection.py``; docs/benchmarks.md).

Event ids are ``pat-<pattern_id>-<sequence>``; pattern ids hash (model, cluster id, first seen), so a replay
from the same checkpoint produces the same events, which consumers deduplicate on ``event_id``.

>>> import numpy as np
>>> from pioneer.clustering import IncrementalClusterer
>>> clu = IncrementalClusterer(pass_sample_rate=1.0, recent_half_life=600.0, seed=0)
>>> det = EmergingPatternDetector(min_failures=10, hold_checks=2)
>>> rng, hot = np.random.default_rng(0), np.eye(16)[0]
>>> for t in range(0, 3000):                       # steady traffic: passes spread over many directions
...     _ = clu.learn_one(rng.standard_normal(16), t=float(t), failed=False)
>>> published = []
>>> for t in range(3000, 3060):                    # then a burst of failures in one region
...     _ = clu.learn_one(hot + 0.1 * rng.standard_normal(16), t=float(t), text="reset my pin", request_id=f"r{t}")
...     if t % 10 == 9:                            # check every ten events
...         published += det.update(clu.snapshot(), model="banking").fired
>>> [(e.state, e.emerging, e.name, e.failures_recent) for e in published]
[('growing', True, 'pin / reset', 30)]
>>> len(det.emerging_)
1
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Self

import orjson

from pioneer.base import check_number
from pioneer.clustering.stats import ClusterStats, Snapshot
from pioneer.events import ErrorPattern, ModelName, ModelRef, from_dict
from pioneer.trigger.base import Trigger
from pioneer.trigger.rates import estimate_failure_rate, failure_rate_lower_bound, z_score

STATE_VERSION = 1
_GROWTH_CAP = 1e6


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One cluster's check: the figures compared against the thresholds, and whether it passed."""

    failures_recent: float
    failure_rate: float
    failure_rate_lower: float
    global_rate: float
    growth: float
    broad: bool
    """The model failed broadly at this check, so lift and growth were waived."""
    passed: bool


class EmergingPatternDetector(Trigger[Snapshot, ModelName | ModelRef | str]):
    """Flags clusters whose recent failures, failure rate and growth pass thresholds; emits ``ErrorPattern``.

    Parameters
    ----------
    min_failures
        Recent (decayed) failures a cluster needs, >= 1.
    min_failure_rate
        Minimum lower confidence bound of the cluster's failure rate, in [0, 1].
    min_lift
        The lower bound must also exceed this multiple of the global failure rate, >= 0.
    min_growth
        Minimum growth (1 = steady), >= 0.
    broad_failure_rate
        Lower bound of the model's failure rate over all recent traffic above which lift and growth are
        waived, in (0, 1]; None never waives them.
    hold_checks
        Consecutive passing checks before a cluster is emerging, >= 1.
    release_checks
        Consecutive failing checks before an emerging cluster is released, >= 1.
    confidence
        One-sided confidence of the failure-rate lower bound, in (0.5, 1).
    heartbeat
        Seconds of event time between republications of an unchanged emerging pattern, > 0.

    Attributes
    ----------
    emerging_
        Pattern ids emerging now.
    pattern_ids_
        Pattern id of each followed cluster id.
    checks_
        The last update's :class:`Check` per cluster id.
    """

    def __init__(
        self,
        min_failures: float = 10.0,
        min_failure_rate: float = 0.1,
        min_lift: float = 1.5,
        min_growth: float = 2.0,
        broad_failure_rate: float | None = 0.3,
        hold_checks: int = 2,
        release_checks: int = 3,
        confidence: float = 0.95,
        heartbeat: float = 600.0,
    ) -> None:
        check_number("min_failures", min_failures, 1.0)
        check_number("min_failure_rate", min_failure_rate, 0.0, 1.0)
        check_number("min_lift", min_lift, 0.0)
        check_number("min_growth", min_growth, 0.0)
        if broad_failure_rate is not None:
            check_number("broad_failure_rate", broad_failure_rate, 1e-9, 1.0)
        check_number("hold_checks", hold_checks, 1, integer=True)
        check_number("release_checks", release_checks, 1, integer=True)
        check_number("confidence", confidence, 0.5 + 1e-9, 1.0 - 1e-9)
        check_number("heartbeat", heartbeat, 1e-9)
        self.min_failures = min_failures
        self.min_failure_rate = min_failure_rate
        self.min_lift = min_lift
        self.min_growth = min_growth
        self.broad_failure_rate = broad_failure_rate
        self.hold_checks = hold_checks
        self.release_checks = release_checks
        self.confidence = confidence
        self.heartbeat = heartbeat
        self._reset()

    def _reset(self) -> None:
        self._z = z_score(self.confidence)
        self._streak: dict[int, int] = {}
        self._misses: dict[int, int] = {}
        self._emerging: set[int] = set()
        self._pattern_ids: dict[int, str] = {}
        self._seq: dict[int, int] = {}
        self._last: dict[int, ErrorPattern] = {}
        self._fired: list[ErrorPattern] = []
        self._checks: dict[int, Check] = {}

    # ------------------------------------------------------------------------------------------------ results

    @property
    def fired(self) -> tuple[ErrorPattern, ...]:
        """Pattern events of the last update, to publish on the error-pattern topic."""
        return tuple(self._fired)

    @property
    def emerging_(self) -> tuple[str, ...]:
        return tuple(sorted(self._pattern_ids[c] for c in self._emerging))

    @property
    def pattern_ids_(self) -> dict[int, str]:
        """Pattern id of each cluster id published (or named as a merge target) and still followed."""
        return dict(self._pattern_ids)

    @property
    def checks_(self) -> dict[int, Check]:
        return dict(self._checks)

    # ------------------------------------------------------------------------------------------------ update

    def check(self, cluster: ClusterStats, snapshot: Snapshot) -> Check:
        """Compare one cluster with the thresholds (pure: no state changes)."""
        s = snapshot.pass_sample_rate
        rate = estimate_failure_rate(cluster.failures_recent, cluster.passes_sampled_recent, s)
        lower = failure_rate_lower_bound(cluster.failures_recent, cluster.passes_sampled_recent, s, self._z)
        global_rate = estimate_failure_rate(snapshot.failures_recent, snapshot.passes_sampled_recent, s)
        growth = min(cluster.growth, _GROWTH_CAP)
        broad = self.fails_broadly(snapshot)
        passed = (
            cluster.failures_recent >= self.min_failures
            and lower >= self.min_failure_rate
            and (broad or (lower > self.min_lift * global_rate and growth >= self.min_growth))
        )
        return Check(cluster.failures_recent, rate, lower, global_rate, growth, broad, passed)

    def fails_broadly(self, snapshot: Snapshot) -> bool:
        """Whether the model's recent failure rate over all traffic surely (lower bound) reaches ``broad_failure_rate``."""
        if self.broad_failure_rate is None:
            return False
        lower = failure_rate_lower_bound(
            snapshot.failures_recent, snapshot.passes_sampled_recent, snapshot.pass_sample_rate, self._z
        )
        return lower >= self.broad_failure_rate

    def update(self, snapshot: Snapshot, /, *, model: ModelName | ModelRef | str) -> Self:
        """Check every cluster of ``snapshot`` (one model's clusterer) and collect the events to publish."""
        model_name = self._model(model)
        self._fired = []
        self._checks = {}
        live = snapshot.by_id()
        for cid, cluster in sorted(live.items()):
            check = self._checks[cid] = self.check(cluster, snapshot)
            self._advance(cid, check.passed)
            emerging = cid in self._emerging
            if not emerging and cid not in self._last:
                continue
            event = self._event(cluster, check, emerging, model_name, snapshot)
            prev = self._last.get(cid)
            if (
                prev is None
                or prev.state != event.state
                or prev.emerging != event.emerging
                or (emerging and snapshot.time - prev.timestamp >= self.heartbeat)
            ):
                self._publish(cid, event)
        for cid in sorted(set(self._last) - set(live)):
            into = snapshot.merged.get(cid)
            into_id = None
            if into is not None and into in live:
                into_id = self._pattern_id(into, model_name.name, live[into].first_seen)
            final = dataclasses.replace(
                self._last[cid],
                timestamp=max(snapshot.time, self._last[cid].timestamp),
                state="merged" if into_id is not None else "fading",
                emerging=False,
                merged_into=into_id,
            )
            self._publish(cid, final)
            for table in (self._last, self._seq, self._pattern_ids):
                table.pop(cid, None)
            self._emerging.discard(cid)
        for table in (self._streak, self._misses):
            for cid in set(table) - set(live):
                del table[cid]
        self._emerging &= set(live)
        for cid in set(self._pattern_ids) - set(live) - set(self._last):
            del self._pattern_ids[cid]
        return self

    def _advance(self, cid: int, passed: bool) -> None:
        if cid in self._emerging:
            self._misses[cid] = 0 if passed else self._misses.get(cid, 0) + 1
            if self._misses[cid] >= self.release_checks:
                self._emerging.discard(cid)
                self._misses.pop(cid, None)
                self._streak[cid] = 0
            return
        self._streak[cid] = self._streak.get(cid, 0) + 1 if passed else 0
        if self._streak[cid] >= self.hold_checks:
            self._emerging.add(cid)
            self._misses[cid] = 0

    @staticmethod
    def _model(model: ModelName | ModelRef | str) -> ModelName:
        if isinstance(model, str):
            return ModelName(name=model)
        return ModelName(name=model.name, version=model.version)

    def _pattern_id(self, cid: int, model: str, first_seen: float) -> str:
        pid = self._pattern_ids.get(cid)
        if pid is None:
            digest = hashlib.sha1(f"{model}|{cid}|{first_seen:.3f}".encode()).hexdigest()[:10]
            pid = self._pattern_ids[cid] = f"p-{digest}"
        return pid

    def _event(
        self, c: ClusterStats, check: Check, emerging: bool, model: ModelName, snapshot: Snapshot
    ) -> ErrorPattern:
        pid = self._pattern_id(c.id, model.name, c.first_seen)
        return ErrorPattern(
            event_id="",
            timestamp=snapshot.time,
            pattern_id=pid,
            model=model,
            state=c.state,  # type: ignore[arg-type]
            emerging=emerging,
            name=c.name,
            keywords=list(c.keywords),
            size=c.size,
            failures_recent=round(c.failures_recent),
            passes_recent=round(c.passes_recent),
            failure_rate=check.failure_rate,
            failure_rate_lower=check.failure_rate_lower,
            growth=check.growth,
            traffic_share=c.traffic_share,
            confusions=[dataclasses.replace(x) for x in c.confusions],
            exemplars=[dataclasses.replace(x) for x in c.exemplars],
            first_seen=c.first_seen,
            last_seen=c.last_seen,
        )

    def _publish(self, cid: int, event: ErrorPattern) -> None:
        seq = self._seq.get(cid, 0) + 1
        self._seq[cid] = seq
        event.event_id = f"pat-{event.pattern_id}-{seq:06d}"
        self._last[cid] = event
        self._fired.append(event)

    # ------------------------------------------------------------------------------------------------ persistence

    def to_bytes(self) -> bytes:
        """State as JSON bytes (parameters included); restore with :meth:`from_bytes`."""
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                "class": type(self).__name__,
                "params": self.get_params(),
                "streak": list(self._streak.items()),
                "misses": list(self._misses.items()),
                "emerging": sorted(self._emerging),
                "pattern_ids": list(self._pattern_ids.items()),
                "seq": list(self._seq.items()),
                "last": [[cid, ev] for cid, ev in self._last.items()],
            }
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> EmergingPatternDetector:
        meta = orjson.loads(blob)
        if meta.get("class") != cls.__name__ or meta.get("version") != STATE_VERSION:
            raise ValueError(f"state is for {meta.get('class')} v{meta.get('version')}, not {cls.__name__}")
        obj = cls(**meta["params"])
        obj._streak = {int(k): int(v) for k, v in meta["streak"]}
        obj._misses = {int(k): int(v) for k, v in meta["misses"]}
        obj._emerging = {int(k) for k in meta["emerging"]}
        obj._pattern_ids = {int(k): str(v) for k, v in meta["pattern_ids"]}
        obj._seq = {int(k): int(v) for k, v in meta["seq"]}
        obj._last = {int(k): from_dict(ErrorPattern, v) for k, v in meta["last"]}
        return obj

"""Everything the monitor tracks about one model: its failure clusters, the patterns among them, and the
retrain trigger. Pure library code; the stream layer feeds it traces, embeddings and the trainer's answers, and
publishes what it finds.

Time inside is counted in traces (:class:`~pioneer.monitor.clock.TraceClock`): the clusters decay per trace and
the trigger paces on counts, so a check after the same traces decides the same at any traffic rate.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pioneer.clustering import IncrementalClusterer
from pioneer.clustering.state import pack, unpack
from pioneer.events import (
    Confusion,
    ErrorPattern,
    Event,
    Exemplar,
    LabeledTrace,
    ModelName,
    ModelRef,
    ModelRelease,
    ModelRollback,
    PatternRef,
    ReleaseRejection,
    RetrainRequest,
    TrainingProgress,
    TriggerDecision,
)
from pioneer.monitor.clock import TraceClock
from pioneer.monitor.memory import FailureMemory
from pioneer.trigger import (
    FAILURES_PREFIX,
    Breadth,
    EmergingPatternDetector,
    Observation,
    RetrainTrigger,
    measure_breadth,
)

VERSIONS_KEPT = 16
HALF_LIFE_TRACES = 50_000.0
"""Traces after which a failure's weight in a cluster (its size, its pull on the centroid) has halved."""
RECENT_HALF_LIFE_TRACES = 5_000.0
"""Traces of the recent window: a pattern on 0.3% of traffic holds ~20 recent failures in it (enough for
``min_failures``), and growth can reach the ten-fold ratio of the two windows."""


def sampled(request_id: str, rate: float) -> bool:
    """Deterministic sampling by request id: a replayed trace is sampled exactly as the first time."""
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2**64


def confusion_of(trace: LabeledTrace) -> tuple[str | None, str | None]:
    """(expected, predicted) as short strings for a cluster's confusion table."""
    failure = trace.failure
    if failure is None:
        return None, None
    if failure.kind == "span_mismatch":
        missed = ",".join(sorted({s.label for s in failure.missed_spans or []})) or "-"
        spurious = ",".join(sorted({s.label for s in failure.spurious_spans or []})) or "-"
        return f"missed:{missed}", f"spurious:{spurious}"
    return failure.expected_label, failure.predicted_label


@dataclass(frozen=True, slots=True)
class Findings:
    """What one check produced: pattern updates and retrain requests to publish, and the trigger's decision."""

    patterns: tuple[ErrorPattern, ...]
    requests: tuple[RetrainRequest, ...]
    decision: TriggerDecision | None = None


class ModelWatch:
    """Clusters one model's failures and turns what it sees into retrain requests.

    Parameters
    ----------
    model
        The model's name.
    pass_sample_rate
        Fraction of passing traces embedded, to estimate each cluster's failure rate (the clusterer counts
        each sampled pass ``1 / rate`` times).
    clusterer, detector, trigger
        The components, with their own hyperparameters (defaults when None). The clusterer's half-lives and
        the detector's heartbeat are counted in traces: the watch feeds them a clock that ticks once per trace.
    member_memory
        Recent failures remembered (request id, embedding, version, labels) to measure how widely they spread
        and to tell the trainer which belong to each pattern.

    >>> watch = ModelWatch("banking", pass_sample_rate=1.0)
    >>> watch.select([])
    []
    """

    def __init__(
        self,
        model: str,
        *,
        pass_sample_rate: float = 0.1,
        clusterer: IncrementalClusterer | None = None,
        detector: EmergingPatternDetector | None = None,
        trigger: RetrainTrigger | None = None,
        member_memory: int = 4096,
    ) -> None:
        if not 0.0 < pass_sample_rate <= 1.0:
            raise ValueError(f"pass_sample_rate must be in (0, 1], got {pass_sample_rate}")
        self.model = model
        self.pass_sample_rate = pass_sample_rate
        self.clusterer = clusterer or IncrementalClusterer(
            pass_sample_rate=pass_sample_rate, half_life=HALF_LIFE_TRACES, recent_half_life=RECENT_HALF_LIFE_TRACES,
            seed=0,
        )
        if self.clusterer.pass_sample_rate != pass_sample_rate:
            raise ValueError("the clusterer's pass_sample_rate must equal the watch's")
        self.detector = detector or EmergingPatternDetector(heartbeat=RECENT_HALF_LIFE_TRACES)
        self.trigger = trigger or RetrainTrigger()
        self.serving: ModelRef | None = None
        """The version that served the latest trace (retrain requests name it)."""
        self.traces_seen = 0
        self.failures_seen = 0
        self.clock = TraceClock()
        self.memory = FailureMemory(member_memory)
        self.by_version: dict[str, list[int]] = {}
        """Traces and failures seen per version served (the trigger's evidence)."""
        self._reported: dict[str, set[str]] = {}

    def select(self, traces: Sequence[LabeledTrace]) -> list[LabeledTrace]:
        """The traces worth embedding: every failure and a deterministic sample of passes."""
        return [t for t in traces if t.outcome == "fail" or sampled(t.request_id, self.pass_sample_rate)]

    def learn(self, traces: Sequence[LabeledTrace], embeddings: np.ndarray) -> None:
        """Count every trace of a batch (in order) and learn those :meth:`select` picks, one embedding row each.

        Pass the whole batch: unsampled passes carry no embedding but count as evidence (traces served).
        """
        if not traces:
            return
        ticks = self.clock.advance([t.served_at for t in traces])
        for trace in traces:
            counts = self.by_version.setdefault(trace.model.version, [0, 0])
            counts[0] += 1
            counts[1] += trace.outcome == "fail"
        for old in list(self.by_version)[: max(0, len(self.by_version) - VERSIONS_KEPT)]:
            del self.by_version[old]
        chosen = [i for i, t in enumerate(traces) if t.outcome == "fail" or sampled(t.request_id, self.pass_sample_rate)]
        if len(chosen) != len(embeddings):
            raise ValueError(f"one embedding per selected trace: {len(chosen)} selected, {len(embeddings)} rows")
        if chosen:
            self._learn_selected([traces[i] for i in chosen], [ticks[i] for i in chosen], embeddings)
        self.serving = max(traces, key=lambda t: t.served_at).model
        self.traces_seen += len(traces)
        self.failures_seen += sum(t.outcome == "fail" for t in traces)

    def _learn_selected(self, traces: list[LabeledTrace], ticks: list[int], embeddings: np.ndarray) -> None:
        confusions = [confusion_of(t) for t in traces]
        self.clusterer.learn_many(
            embeddings,
            t=[float(tick) for tick in ticks],
            failed=[t.outcome == "fail" for t in traces],
            request_ids=[t.request_id for t in traces],
            texts=[t.input.text for t in traces],
            expected=[c[0] for c in confusions],
            predicted=[c[1] for c in confusions],
        )
        failed = [i for i, t in enumerate(traces) if t.outcome == "fail"]
        self.memory.add(
            [traces[i].request_id for i in failed],
            np.asarray(embeddings)[failed],
            versions=[traces[i].model.version for i in failed],
            expected=[confusions[i][0] for i in failed],
            predicted=[confusions[i][1] for i in failed],
            texts=[traces[i].input.text for i in failed],
            times=[traces[i].served_at for i in failed],
        )

    # ------------------------------------------------------------------------------------------ the trainer

    def answer(self, event: Event) -> bool:
        """Pass the trainer's answer (a release, rejection, failed progress or rollback) to the trigger.

        Returns whether the event concerned this model (the caller may check again at once: the trainer is free).
        """
        model = getattr(event, "model", None)
        if model is None or model.name != self.model:
            return False
        now = self.clock.latest_time_
        if isinstance(event, ModelRelease):
            self.trigger.answer(event.request_id, "released", now=now, model=self.model,
                                replaced=event.alias.from_version or event.parent_version)
        elif isinstance(event, ReleaseRejection):
            self.trigger.answer(event.request_id, "rejected", now=now, model=self.model)
        elif isinstance(event, ModelRollback):
            self.trigger.answer(None, "released", now=now, model=self.model,
                                replaced=event.alias.from_version, restored=event.alias.to_version)
        elif isinstance(event, TrainingProgress) and event.stage == "failed":
            self.trigger.answer(event.request_id, "failed", now=now, model=self.model)
        else:
            return False
        return True

    # ------------------------------------------------------------------------------------------ checks

    def check(self, now: float | None = None) -> Findings:
        """Snapshot the clusters, update the patterns, and ask the trigger whether to retrain.

        ``now`` is the event time written on the events (default: the latest trace's); the clusters are read
        at the latest trace.
        """
        if self.clusterer.n_updates_ == 0 or self.serving is None:
            return Findings((), ())
        now = self.clock.latest_time_ if now is None else float(now)
        fired = self.detector.update(self.clusterer.snapshot(float(self.clock.ticks_)), model=self.model).fired
        patterns = [self._in_event_time(p, now) for p in fired]
        cluster_of = self._clusters_of_memory()
        observed = self._observe(cluster_of, now, patterns)
        requests = self.trigger.update(observed, model=self.serving).fired
        patterns = self._with_members(patterns, cluster_of)
        for request in requests:
            patterns += self._failures_patterns(request, cluster_of, now)
        return Findings(tuple(patterns), tuple(requests), self.trigger.decision_)

    def _in_event_time(self, pattern: ErrorPattern, now: float) -> ErrorPattern:
        return dataclasses.replace(pattern, timestamp=now, first_seen=self.clock.to_time(pattern.first_seen),
                                   last_seen=self.clock.to_time(pattern.last_seen))

    def _clusters_of_memory(self) -> np.ndarray:
        if not len(self.memory):
            return np.zeros(0, dtype=np.int64)
        return self.clusterer.predict_many(self.memory.vectors.astype(np.float32))

    def _emerging_clusters(self) -> dict[int, str]:
        emerging = set(self.detector.emerging_)
        return {cid: pid for cid, pid in self.detector.pattern_ids_.items() if pid in emerging}

    def _observe(self, cluster_of: np.ndarray, now: float, patterns: Sequence[ErrorPattern]) -> Observation:
        """The serving version's evidence at ``now``: ``patterns``, its counts, and how its remembered failures
        spread."""
        assert self.serving is not None
        breadth, per_pattern = self._spread(cluster_of)
        traces, failures = self.by_version.get(self.serving.version, [0, 0])
        return Observation(time=now, patterns=patterns, traces=traces, failures=failures, breadth=breadth,
                           pattern_failures=per_pattern)

    def _spread(self, cluster_of: np.ndarray) -> tuple[Breadth, dict[str, int]]:
        """How the serving version's remembered failures spread over clusters, and how many each emerging pattern
        holds."""
        assert self.serving is not None
        mine = self.memory.of_version(self.serving.version)
        clusters = [int(cluster_of[i]) for i in mine]
        emerging = self._emerging_clusters()
        breadth = measure_breadth(clusters, [self.memory.expected[i] for i in mine], set(emerging))
        return breadth, dict(Counter(emerging[c] for c in clusters if c in emerging))

    def _with_members(self, patterns: Sequence[ErrorPattern], cluster_of: np.ndarray) -> list[ErrorPattern]:
        """Name, in each emerging pattern's event, the remembered failures newly assigned to its cluster."""
        emerging = [p for p in patterns if p.emerging]
        if not emerging or not len(self.memory):
            return list(patterns)
        cid_of = {pid: cid for cid, pid in self.detector.pattern_ids_.items()}
        remembered = set(self.memory.request_ids)
        out = []
        for pattern in patterns:
            cid = cid_of.get(pattern.pattern_id)
            if pattern.emerging and cid is not None:
                reported = self._reported.setdefault(pattern.pattern_id, set())
                reported &= remembered  # forget what fell out of memory
                new = [rid for rid, c in zip(self.memory.request_ids, cluster_of) if c == cid and rid not in reported]
                reported.update(new)
                pattern = dataclasses.replace(pattern, members=new or None)
            out.append(pattern)
        for pid in set(self._reported) - set(cid_of.values()):
            del self._reported[pid]
        return out

    def _failures_patterns(self, request: RetrainRequest, cluster_of: np.ndarray, now: float) -> list[ErrorPattern]:
        """The event of each "failures as a whole" pattern a request names, with its members."""
        mode = "broad" if request.decision is None else request.decision.mode
        mine = self.memory.of_version(request.model.version)
        if mode != "broad":
            skip = set(self._emerging_clusters())
            mine = [i for i in mine if int(cluster_of[i]) not in skip]
        if mode == "concentrated":
            top = set(self._spread(cluster_of)[0].top_clusters)
            mine = [i for i in mine if int(cluster_of[i]) in top]
        return [self._failures_event(ref, request, mine, now)
                for ref in request.patterns if ref.pattern_id.startswith(FAILURES_PREFIX)]

    def _failures_event(self, ref: PatternRef, request: RetrainRequest, rows: list[int], now: float) -> ErrorPattern:
        mem, decision = self.memory, request.decision
        pairs = Counter((mem.expected[i], mem.predicted[i]) for i in rows if mem.expected[i] and mem.predicted[i])
        times = [mem.times[i] for i in rows] or [now]
        return ErrorPattern(
            event_id=f"pat-{ref.pattern_id}-000001",
            timestamp=now,
            pattern_id=ref.pattern_id,
            model=ModelName(name=self.model, version=request.model.version),
            state="growing",
            emerging=True,
            name=ref.name,
            size=float(len(rows)),
            failures_recent=len(rows),
            failure_rate=ref.failure_rate or 0.0,
            failure_rate_lower=0.0 if decision is None else decision.failure_rate_lower,
            growth=1.0,
            confusions=[Confusion(expected=e, predicted=p, count=n) for (e, p), n in pairs.most_common(10)],
            exemplars=[Exemplar(request_id=mem.request_ids[i], text=mem.texts[i], expected=mem.expected[i],
                                predicted=mem.predicted[i]) for i in rows[-5:]],
            first_seen=min(times),
            last_seen=max(times),
            members=[mem.request_ids[i] for i in rows][-5000:] or None,
        )

    @property
    def emerging_(self) -> tuple[str, ...]:
        return self.detector.emerging_

    # ------------------------------------------------------------------------------------------ persistence

    def to_bytes(self) -> bytes:
        """The whole watch as one blob (numpy arrays + JSON; never pickle)."""
        vectors, memory = self.memory.state()
        meta = {
            "model": self.model,
            "pass_sample_rate": self.pass_sample_rate,
            "serving": None if self.serving is None else [self.serving.name, self.serving.version],
            "traces_seen": self.traces_seen,
            "failures_seen": self.failures_seen,
            "clock": self.clock.state(),
            "by_version": self.by_version,
            "memory": memory,
            "reported": {pid: sorted(ids) for pid, ids in self._reported.items()},
        }
        parts = {
            "clusterer": np.frombuffer(self.clusterer.to_bytes(), dtype=np.uint8),
            "detector": np.frombuffer(self.detector.to_bytes(), dtype=np.uint8),
            "trigger": np.frombuffer(self.trigger.to_bytes(), dtype=np.uint8),
            "memory": vectors,
        }
        return pack(parts, meta)

    @classmethod
    def from_bytes(cls, blob: bytes) -> ModelWatch:
        parts, meta = unpack(blob)
        watch = cls(
            meta["model"],
            pass_sample_rate=meta["pass_sample_rate"],
            clusterer=IncrementalClusterer.from_bytes(parts["clusterer"].tobytes()),
            detector=EmergingPatternDetector.from_bytes(parts["detector"].tobytes()),
            trigger=RetrainTrigger.from_bytes(parts["trigger"].tobytes()),
            member_memory=int(meta["memory"]["capacity"]),
        )
        serving = meta["serving"]
        watch.serving = None if serving is None else ModelRef(name=serving[0], version=serving[1])
        watch.traces_seen, watch.failures_seen = meta["traces_seen"], meta["failures_seen"]
        watch.clock = TraceClock.from_state(meta["clock"])
        watch.by_version = {v: [int(n), int(f)] for v, (n, f) in meta["by_version"].items()}
        watch.memory = FailureMemory.from_state(parts["memory"], meta["memory"])
        watch._reported = {pid: set(ids) for pid, ids in meta["reported"].items()}
        return watch

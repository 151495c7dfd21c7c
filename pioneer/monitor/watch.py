"""Everything the monitor tracks about one model: its failure clusters, the patterns among them, and the
retrain trigger. Pure library code; the stream layer feeds it traces and embeddings and publishes what it
finds.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pioneer.clustering import IncrementalClusterer
from pioneer.clustering.state import pack, unpack
from pioneer.events import ErrorPattern, LabeledTrace, ModelRef, RetrainRequest
from pioneer.trigger import EmergingPatternDetector, RetrainTrigger


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
    """What one check produced: pattern updates and retrain requests to publish."""

    patterns: tuple[ErrorPattern, ...]
    requests: tuple[RetrainRequest, ...]


class ModelWatch:
    """Clusters one model's failures and turns emerging clusters into retrain requests.

    Parameters
    ----------
    model
        The model's name.
    pass_sample_rate
        Fraction of passing traces embedded, to estimate each cluster's failure rate (the clusterer counts
        each sampled pass ``1 / rate`` times).
    clusterer, detector, trigger
        The components, with their own hyperparameters (defaults when None).
    member_memory
        Recent failures remembered (request id and embedding) to tell the trainer which belong to each
        pattern: each published pattern event names its members among them that it has not named before.

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
        self.clusterer = clusterer or IncrementalClusterer(pass_sample_rate=pass_sample_rate, seed=0)
        if self.clusterer.pass_sample_rate != pass_sample_rate:
            raise ValueError("the clusterer's pass_sample_rate must equal the watch's")
        self.detector = detector or EmergingPatternDetector()
        self.trigger = trigger or RetrainTrigger()
        self.serving: ModelRef | None = None
        """The version that served the latest trace (retrain requests name it)."""
        self.traces_seen = 0
        self.failures_seen = 0
        self.member_memory = member_memory
        self._recent_ids: list[str] = []
        self._recent_vectors = np.zeros((0, 0), dtype=np.float16)
        self._reported: dict[str, set[str]] = {}

    def select(self, traces: Sequence[LabeledTrace]) -> list[LabeledTrace]:
        """The traces worth embedding: every failure and a deterministic sample of passes."""
        return [t for t in traces if t.outcome == "fail" or sampled(t.request_id, self.pass_sample_rate)]

    def learn(self, traces: Sequence[LabeledTrace], embeddings: np.ndarray) -> None:
        """Learn the selected traces (in order) with their embeddings (one row each)."""
        if not traces:
            return
        confusions = [confusion_of(t) for t in traces]
        self.clusterer.learn_many(
            embeddings,
            t=[t.served_at for t in traces],
            failed=[t.outcome == "fail" for t in traces],
            request_ids=[t.request_id for t in traces],
            texts=[t.input.text for t in traces],
            expected=[c[0] for c in confusions],
            predicted=[c[1] for c in confusions],
        )
        self._remember([t.request_id for t in traces if t.outcome == "fail"],
                       embeddings[[i for i, t in enumerate(traces) if t.outcome == "fail"]])
        latest = max(traces, key=lambda t: t.served_at)
        self.serving = latest.model
        self.traces_seen += len(traces)
        self.failures_seen += sum(t.outcome == "fail" for t in traces)

    def check(self, now: float) -> Findings:
        """Snapshot the clusters, update the patterns, and ask the trigger whether to retrain."""
        if self.clusterer.n_updates_ == 0 or self.serving is None:
            return Findings((), ())
        patterns = self.detector.update(self.clusterer.snapshot(now), model=self.model).fired
        patterns = self._with_members(patterns)
        requests = self.trigger.update(patterns, model=self.serving, now=now).fired
        return Findings(tuple(patterns), tuple(requests))

    def _remember(self, request_ids: list[str], vectors: np.ndarray) -> None:
        if not request_ids:
            return
        vectors = np.asarray(vectors, dtype=np.float16)
        if self._recent_vectors.size == 0:
            self._recent_vectors = np.zeros((0, vectors.shape[1]), dtype=np.float16)
        self._recent_ids = (self._recent_ids + request_ids)[-self.member_memory :]
        self._recent_vectors = np.concatenate([self._recent_vectors, vectors])[-self.member_memory :]

    def _with_members(self, patterns: Sequence[ErrorPattern]) -> list[ErrorPattern]:
        """Name, in each emerging pattern's event, the remembered failures newly assigned to its cluster."""
        emerging = [p for p in patterns if p.emerging]
        if not emerging or not self._recent_ids:
            return list(patterns)
        clusters = self.clusterer.predict_many(self._recent_vectors.astype(np.float32))
        cluster_of = {pid: cid for cid, pid in self.detector.pattern_ids_.items()}
        remembered = set(self._recent_ids)
        out = []
        for pattern in patterns:
            cid = cluster_of.get(pattern.pattern_id)
            if pattern.emerging and cid is not None:
                reported = self._reported.setdefault(pattern.pattern_id, set())
                reported &= remembered  # forget what fell out of memory
                new = [rid for rid, c in zip(self._recent_ids, clusters) if c == cid and rid not in reported]
                reported.update(new)
                pattern = dataclasses.replace(pattern, members=new or None)
            out.append(pattern)
        return out

    @property
    def emerging_(self) -> tuple[str, ...]:
        return self.detector.emerging_

    # ------------------------------------------------------------------------------------------ persistence

    def to_bytes(self) -> bytes:
        """The whole watch as one blob (numpy arrays + JSON; never pickle)."""
        meta = {
            "model": self.model,
            "pass_sample_rate": self.pass_sample_rate,
            "serving": None if self.serving is None else [self.serving.name, self.serving.version],
            "traces_seen": self.traces_seen,
            "failures_seen": self.failures_seen,
        }
        parts = {
            "clusterer": np.frombuffer(self.clusterer.to_bytes(), dtype=np.uint8),
            "detector": np.frombuffer(self.detector.to_bytes(), dtype=np.uint8),
            "trigger": np.frombuffer(self.trigger.to_bytes(), dtype=np.uint8),
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
        )
        serving = meta["serving"]
        watch.serving = None if serving is None else ModelRef(name=serving[0], version=serving[1])
        watch.traces_seen, watch.failures_seen = meta["traces_seen"], meta["failures_seen"]
        return watch

"""Error patterns of one stage: the monitor's online clusterer run over the stage's failures in one pass.

The stream monitor clusters failures as they arrive and names emerging ones; the benchmark has one stage of
labelled logs at a time, so it learns all of the stage's failures at once with the same
:class:`~pioneer.clustering.IncrementalClusterer` on the same MiniLM embeddings, then assigns every log
(passes too) to its nearest pattern, as the monitor's membership events would. The settings are looser than
the streaming defaults in one respect only: a pattern needs fewer failures (``min_weight`` 2), since one
stage's batch is all there is rather than a stream in which each pattern can wait to emerge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pioneer.events import LabeledTrace


@dataclass(frozen=True, slots=True)
class StagePatterns:
    """What pattern discovery found in one stage."""

    members: dict[str, list[str]]
    """Pattern id -> request ids (failures and passes assigned to it); only patterns kept for retraining."""
    names: dict[str, str]
    failure_cluster: dict[str, str] = field(default_factory=dict)
    """Request id of every failure -> the pattern it was assigned to (kept or not); absent for outliers."""


def discover_patterns(
    traces: Sequence[LabeledTrace],
    *,
    embedder,
    min_failures: int = 3,
    seed: int = 0,
    prefix: str = "p",
    threshold: float = 0.6,
    link_threshold: float = 0.7,
) -> StagePatterns:
    """Cluster the failures of ``traces``; keep patterns with at least ``min_failures`` failures.

    ``threshold`` and ``link_threshold`` are the clusterer's (micro-cluster join and grouping similarities); the
    defaults are the clusterer's own. Looser values (0.5/0.5, as ``scripts/retrain_clinc150.py`` uses) make a
    few broad patterns, and on a task whose requests all look alike (one domain, templated text) put every
    failure, poison included, into one pattern that the diagnosis then rejects whole.
    """
    from pioneer.clustering import IncrementalClusterer

    failures = [t for t in traces if t.outcome == "fail"]
    if not failures:
        return StagePatterns({}, {})
    vectors = np.asarray(embedder.encode([t.input.text for t in traces]), dtype=np.float32)
    rows = [i for i, t in enumerate(traces) if t.outcome == "fail"]
    clusterer = IncrementalClusterer(
        threshold=threshold, link_threshold=link_threshold, assign_threshold=0.3, min_weight=2.0, seed=seed
    )
    clusterer.learn_many(
        vectors[rows],
        t=[t.labeled_at for t in failures],
        request_ids=[t.request_id for t in failures],
        texts=[t.input.text for t in failures],
        expected=[_short(t.expected) for t in failures],
        predicted=[_short(t.prediction) for t in failures],
    )
    assigned = clusterer.predict_many(vectors)
    members: dict[str, list[str]] = defaultdict(list)
    n_fail: Counter[str] = Counter()
    failure_cluster: dict[str, str] = {}
    for trace, cluster in zip(traces, assigned, strict=True):
        if cluster < 0:
            continue
        pid = f"{prefix}{int(cluster)}"
        members[pid].append(trace.request_id)
        if trace.outcome == "fail":
            n_fail[pid] += 1
            failure_cluster[trace.request_id] = pid
    names = {f"{prefix}{c.id}": c.name for c in clusterer.snapshot().clusters}
    kept = {pid: ids for pid, ids in members.items() if n_fail[pid] >= min_failures}
    return StagePatterns(kept, {pid: names.get(pid, pid) for pid in kept}, failure_cluster)


def _short(output) -> str | None:
    if output is None:
        return None
    if output.label is not None:
        return output.label
    if output.spans is not None:
        return ",".join(sorted({s.label for s in output.spans})) or "-"
    return (output.text or "")[:20]

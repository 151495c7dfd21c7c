"""What a clusterer reports: one record per cluster, and a snapshot of all of them at one event time.

Counts are decayed in event time. ``failures_recent`` and the pass counts use the short (recent) half-life,
``size`` and ``traffic_share`` the long one. Passing traffic is only sampled, so the sampled count is kept next
to its estimate (``passes_recent = passes_sampled_recent / pass_sample_rate``): confidence bounds need the
count actually observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pioneer.events import Confusion, Exemplar


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterStats:
    """One cluster of failures at the snapshot time."""

    id: int
    state: str
    size: float
    """Decayed weight of the cluster's failures (long half-life)."""
    failures_recent: float
    passes_sampled_recent: float
    passes_recent: float
    """Estimated passes near the cluster: sampled passes over the sampling rate."""
    traffic_share: float
    """Share of all traffic (failures plus estimated passes, long half-life) that falls near this cluster."""
    growth: float
    """Recent-to-long-run failure rate ratio of the cluster, over the same ratio for all traffic (1 = steady)."""
    first_seen: float
    last_seen: float
    confusions: tuple[Confusion, ...]
    exemplars: tuple[Exemplar, ...]
    keywords: tuple[str, ...]
    name: str
    n_micro: int
    centroid: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Every live cluster, recent merges and global traffic counts at event time ``time``."""

    time: float
    clusters: tuple[ClusterStats, ...]
    merged: dict[int, int]
    """Recently merged cluster ids and the id each went into (bounded history)."""
    failures_recent: float
    passes_sampled_recent: float
    pass_sample_rate: float
    n_updates: int

    @property
    def passes_recent(self) -> float:
        return self.passes_sampled_recent / self.pass_sample_rate

    def by_id(self) -> dict[int, ClusterStats]:
        return {c.id: c for c in self.clusters}

"""Online clustering of failure embeddings: micro-clusters on the hot path, clusters regrouped lazily.

The design follows the online/offline split of CluStream, DenStream and DBSTREAM, sized for 384-d unit vectors,
and calibrates itself to the traffic it sees (:mod:`pioneer.clustering.calibration`): every similarity is taken
after projecting out the traffic's common direction, and the joining threshold is a streaming quantile of
nearest-neighbour similarities among recent failures. No threshold is a constant fitted to one dataset:


* **Online (every event, O(micro-clusters x d), one matrix-vector product).** A failure joins the micro-cluster
  whose centroid is most similar if the cosine reaches the joining threshold, else it founds a new one; at the cap the
  lightest micro-cluster is evicted, so memory is bounded. A sampled *pass* never moves a centroid: it is counted
  at its nearest micro-cluster, which gives each cluster the denominator of its failure rate. Weights decay with
  the events' own timestamps (never the wall clock), so a replay gives the same state. :meth:`learn_one` takes
  one event; :meth:`learn_many` takes a batch with one matrix product per mini-batch (the worker's path).
* **Housekeeping (every ``maintain_every`` updates).** Micro-clusters decayed below ``prune_weight`` are dropped and
  near-duplicates (centroid cosine >= ``merge_threshold``) are merged.
* **Offline (on demand).** :meth:`snapshot`, :meth:`assign_one` and :meth:`predict_many` regroup micro-clusters into
  clusters by coherence-normalised average linkage (:mod:`pioneer.clustering.linkage`), keep each cluster's id
  stable across regroupings and advance its lifecycle (:mod:`pioneer.clustering.lifecycle`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> centers = np.eye(8)[:2]                      # two well separated directions
>>> clu = IncrementalClusterer(min_weight=2.0, seed=0)
>>> for i in range(40):
...     x = centers[i % 2] + 0.1 * rng.standard_normal(8)
...     _ = clu.learn_one(x, t=float(i), text=["refund my order", "cancel my card"][i % 2], request_id=f"r{i}")
>>> clu.n_clusters_
2
>>> snap = clu.snapshot()
>>> sorted(c.name for c in snap.clusters)
['cancel / card', 'order / refund']
>>> clu.assign_one(centers[0]) == clu.assign_one(centers[0] + 0.05)
True
>>> clu.assign_one(np.eye(8)[5]) is None          # unrelated to anything seen: an outlier
True

References
----------
Cao, Ester, Qian, Zhou. Density-based clustering over an evolving data stream with noise. SDM 2006 (DenStream).
Hahsler, Bolanos. Clustering data streams based on shared density between micro-clusters. TKDE 2016 (DBSTREAM).
Cormode, Shkapenyuk, Srivastava, Xu. Forward decay. ICDE 2009.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from pioneer.base import check_number
from pioneer.clustering.base import Clusterer
from pioneer.clustering.calibration import GeometryCalibrator
from pioneer.clustering.decay import ForwardDecay
from pioneer.clustering.lifecycle import match_groups, next_state
from pioneer.clustering.linkage import coherence, group_micro_clusters
from pioneer.clustering.naming import cluster_name, keywords_from_counts, tokenize
from pioneer.clustering.state import pack, unpack, write_atomic
from pioneer.clustering.stats import ClusterStats, Snapshot
from pioneer.errors import ConfigError, NotFittedError
from pioneer.events import Confusion, Exemplar

STATE_VERSION = 2
LINK_THRESHOLD = 0.7
"""Linkage at which two groups are one pattern: as close to each other as half their own coherence (a ratio)."""
ASSIGN_RATIO = 0.5
"""An embedding belongs to a cluster when its centred cosine reaches this share of a member's expected one."""
JOIN_QUANTILE = 0.25
"""A failure joins a micro-cluster as close as the closest quarter of recent failures' nearest neighbours."""
N_EXEMPLARS = 5
"""Exemplars reported per cluster."""
N_CONFUSIONS = 5
"""(expected, predicted) pairs reported per cluster."""
N_KEYWORDS = 3
"""c-TF-IDF keywords per cluster name."""
MERGED_HISTORY = 1024
"""How many recent merges a snapshot remembers."""
_BATCH = 256
"""Rows per mini-batch (one matrix product) in ``learn_many``."""

Sample = tuple[str, str, str | None, str | None]
"""(request_id, text, expected, predicted) kept as an exemplar and for naming."""


def _positive(name: str, value: Any, *, integer: bool = False, minimum: float = 0.0, strict: bool = True) -> None:
    """``value`` is finite and above ``minimum`` (or at it, unless ``strict``)."""
    check_number(name, value, minimum, math.inf, integer=integer, open_low=strict, open_high=True)


class IncrementalClusterer(Clusterer):
    """Online micro-cluster clustering of unit embeddings with time decay, a hard memory cap and a lifecycle.

    Parameters
    ----------
    threshold
        Projected cosine to a micro-cluster's centroid needed to join it (and for a sampled pass to count near
        it), in (0, 1). ``None`` (default): read online as the lower quartile of recent failures' nearest-
        neighbour similarities, so it follows how tight the traffic's patterns are.
    link_threshold
        Coherence-normalised average linkage at which micro-clusters group into one cluster, > 0: a ratio,
        "as similar to each other as this share of how similar each is to itself", so it carries no scale.
    assign_threshold
        Projected cosine to a cluster centroid below which :meth:`assign_one` calls an embedding an outlier, in
        [-1, 1]. ``None`` (default): half the cosine a member is expected to have (``sqrt`` of the cluster's
        own coherence), per cluster.
    half_life
        Seconds of event time for a failure's weight to halve in ``size``, centroids and traffic share.
    recent_half_life
        Seconds of event time of the *recent* window (``failures_recent``, passes, growth); < ``half_life``.
    max_micro_clusters
        Hard cap on micro-clusters (memory is ``O(max_micro_clusters x d)``); the lightest is evicted.
    min_weight
        Decayed failure weight a group of micro-clusters needs to be reported as a cluster.
    prune_weight
        Micro-clusters whose decayed weight falls below this are dropped at housekeeping; < ``min_weight``.
    merge_threshold
        Centroid cosine at which two micro-clusters are near-duplicates and merge at housekeeping, in (0, 1].
    maintain_every
        Updates between housekeeping runs (pruning and near-duplicate merging), >= 1.
    pass_sample_rate
        Fraction of passing traffic that is embedded and fed here, in (0, 1]; passes count ``1 / rate`` each.
    max_samples
        Texts kept per micro-cluster (reservoir sample) for exemplars and names, >= 1.
    growing_ratio
        Growth at or above which a cluster is ``growing``, > 1.
    fading_ratio
        Growth at or below which a cluster is ``fading``, in (0, 1).
    seed
        Seed of the reservoir sampling (``None``: nondeterministic exemplars).

    Attributes
    ----------
    dim_
        Embedding dimension, fixed by the first update.
    n_updates_
        Embeddings learned so far (failures and passes).
    n_micro_clusters_
        Micro-clusters alive now (<= ``max_micro_clusters``).
    n_clusters_
        Clusters at the last regrouping (regroups first if stale).
    latest_time_
        Latest event time seen.
    """

    def __init__(
        self,
        threshold: float | None = None,
        link_threshold: float = LINK_THRESHOLD,
        assign_threshold: float | None = None,
        half_life: float = 86_400.0,
        recent_half_life: float = 3_600.0,
        max_micro_clusters: int = 1_000,
        min_weight: float = 3.0,
        prune_weight: float = 0.25,
        merge_threshold: float = 0.9,
        maintain_every: int = 5_000,
        pass_sample_rate: float = 0.1,
        max_samples: int = 8,
        growing_ratio: float = 1.5,
        fading_ratio: float = 0.5,
        seed: int | None = None,
    ) -> None:
        check_number("threshold", threshold, 0.0, 1.0, optional=True, open_low=True, open_high=True)
        _positive("link_threshold", link_threshold)
        check_number("assign_threshold", assign_threshold, -1.0, 1.0, optional=True)
        _positive("half_life", half_life)
        _positive("recent_half_life", recent_half_life)
        if recent_half_life >= half_life:
            raise ConfigError(f"recent_half_life must be < half_life ({half_life}); got {recent_half_life!r}")
        _positive("max_micro_clusters", max_micro_clusters, integer=True, minimum=1, strict=False)
        _positive("min_weight", min_weight)
        _positive("prune_weight", prune_weight, strict=False)
        if prune_weight >= min_weight:
            raise ConfigError(f"prune_weight must be < min_weight ({min_weight}); got {prune_weight!r}")
        check_number("merge_threshold", merge_threshold, 0.0, 1.0, open_low=True)
        _positive("maintain_every", maintain_every, integer=True, minimum=1, strict=False)
        check_number("pass_sample_rate", pass_sample_rate, 1e-9, 1.0)
        _positive("max_samples", max_samples, integer=True, minimum=1, strict=False)
        _positive("growing_ratio", growing_ratio, minimum=1.0)
        check_number("fading_ratio", fading_ratio, 1e-9, 1.0 - 1e-9)
        check_number("seed", seed, integer=True, optional=True)
        self.threshold = threshold
        self.link_threshold = link_threshold
        self.assign_threshold = assign_threshold
        self.half_life = half_life
        self.recent_half_life = recent_half_life
        self.max_micro_clusters = max_micro_clusters
        self.min_weight = min_weight
        self.prune_weight = prune_weight
        self.merge_threshold = merge_threshold
        self.maintain_every = maintain_every
        self.pass_sample_rate = pass_sample_rate
        self.max_samples = max_samples
        self.growing_ratio = growing_ratio
        self.fading_ratio = fading_ratio
        self.seed = seed
        self._reset()

    # ------------------------------------------------------------------------------------------------ state

    def _reset(self) -> None:
        """Set every piece of learned state (the one place that does)."""
        self._dim = 0
        self._n = 0
        self._n_updates = 0
        self._next_id = 0
        self._latest = -math.inf
        self._slow = ForwardDecay(self.half_life)
        self._fast = ForwardDecay(self.recent_half_life)
        self._anchored = False
        # Global traffic, in stored units: failures, and sampled passes.
        self._gf_slow = self._gf_fast = self._gp_slow = self._gp_fast = 0.0
        self._rng = random.Random(self.seed)
        self._cal = GeometryCalibrator(quantile=JOIN_QUANTILE)
        self._cal_version = -1
        self._group_raw = np.zeros((0, 0), dtype=np.float32)
        self._group_Cmu = np.zeros(0, dtype=np.float32)
        self._group_coh = np.zeros(0)
        self._samples: list[list[Sample]] = []
        self._conf: list[dict[tuple[str, str], float]] = []
        self._states: dict[int, str] = {}
        self._merged: dict[int, int] = {}
        self._labels = np.zeros(0, dtype=np.int64)
        self._group_ids = np.zeros(0, dtype=np.int64)
        self._group_C = np.zeros((0, 0), dtype=np.float32)
        self._stale = True
        self._tokens: dict[str, tuple[str, ...]] = {}

    def _allocate(self, dim: int) -> None:
        cap = self.max_micro_clusters
        self._dim = dim
        self._C = np.zeros((cap, dim), dtype=np.float32)
        self._Cmu = np.zeros(cap, dtype=np.float32)
        self._S = np.zeros((cap, dim), dtype=np.float64)
        self._W = np.zeros(cap)
        self._Q = np.zeros(cap)
        self._Ff = np.zeros(cap)
        self._Ps = np.zeros(cap)
        self._Pf = np.zeros(cap)
        self._first = np.zeros(cap)
        self._last = np.zeros(cap)
        self._gid = np.full(cap, -1, dtype=np.int64)
        self._nseen = np.zeros(cap, dtype=np.int64)
        self._samples = [[] for _ in range(cap)]
        self._conf = [{} for _ in range(cap)]

    _ROW_ARRAYS = ("_C", "_Cmu", "_S", "_W", "_Q", "_Ff", "_Ps", "_Pf", "_first", "_last", "_gid", "_nseen")

    # -------------------------------------------------------------------------------------------- learned attributes

    def _check_fitted(self) -> None:
        if self._n_updates == 0:
            raise NotFittedError(f"{type(self).__name__} has not learned anything yet; call learn_one first")

    @property
    def dim_(self) -> int:
        self._check_fitted()
        return self._dim

    @property
    def n_updates_(self) -> int:
        return self._n_updates

    @property
    def n_micro_clusters_(self) -> int:
        return self._n

    @property
    def latest_time_(self) -> float:
        self._check_fitted()
        return self._latest

    @property
    def n_clusters_(self) -> int:
        self._check_fitted()
        self._ensure_grouped()
        return len(self._group_ids)

    @property
    def micro_centroids_(self) -> np.ndarray:
        """Unit centroids of the live micro-clusters, in the embeddings' own space (a read-only copy)."""
        if not self._dim:
            return np.zeros((0, 0), dtype=np.float32)
        S = self._S[: self._n]
        view = (S / np.linalg.norm(S, axis=1, keepdims=True)).astype(np.float32)
        view.flags.writeable = False
        return view

    @property
    def nbytes_(self) -> int:
        """Bytes held by the preallocated arrays (the bounded part of memory; samples add a few KB per slot)."""
        return sum(getattr(self, name).nbytes for name in self._ROW_ARRAYS) if self._dim else 0

    # ------------------------------------------------------------------------------------------------ learning

    def _unit(self, x: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float32)
        if v.ndim != 1 or (self._dim and v.shape[0] != self._dim):
            raise ValueError(f"expected a vector of shape ({self._dim or 'd'},); got shape {v.shape}")
        norm = float(np.sqrt(v @ v))
        if not norm > 0 or not math.isfinite(norm):
            raise ValueError("embedding must be a finite, non-zero vector")
        return v / norm

    def _join_threshold(self) -> float:
        return self.threshold if self.threshold is not None else self._cal.join_threshold_

    def _sync(self) -> None:
        """Re-centre every micro-cluster when the calibrator has moved the centre."""
        if self._cal.version != self._cal_version:
            self._cal_version = self._cal.version
            self._recentre(np.arange(self._n))

    def _recentre(self, rows: np.ndarray) -> None:
        """Centred unit centroids (and their dot with the centre) of micro-clusters ``rows``."""
        if len(rows):
            self._C[rows] = self._cal.centred(self._S[rows] / self._W[rows, None])
            self._Cmu[rows] = self._cal.removal_ * (self._C[rows] @ self._cal.direction_)

    def _recentre_one(self, k: int) -> None:
        mu, lam = self._cal.direction64_, self._cal.removal_
        s = self._S[k]
        along = float(s @ mu)
        # |P s|^2 = |s|^2 - (2 lam - lam^2) (s . mu)^2 for P = I - lam mu mu^T, |mu| = 1.
        sq = float(s @ s)
        norm = math.sqrt(max(sq - (2.0 * lam - lam * lam) * along * along, 0.0))
        if norm > 1e-9 * math.sqrt(sq):
            self._C[k] = (s - (lam * along) * mu) / norm
            self._Cmu[k] = lam * (along - lam * along) / norm  # (P s . mu) / |P s|
        else:
            self._C[k] = s / math.sqrt(sq)
            self._Cmu[k] = lam * along / math.sqrt(sq)

    def learn_one(
        self,
        x: np.ndarray,
        *,
        t: float,
        failed: bool = True,
        request_id: str | None = None,
        text: str | None = None,
        expected: str | None = None,
        predicted: str | None = None,
    ) -> Self:
        """Learn one embedding observed at event time ``t`` (seconds).

        ``failed=False`` marks a sampled pass: it only counts towards the failure-rate denominator of its
        nearest micro-cluster. ``text`` (with ``request_id``) is kept as a possible exemplar and for naming;
        ``expected`` and ``predicted`` (labels, or short renderings of spans) feed the cluster's confusions.
        ``x`` is not modified.
        """
        v = self._unit(x)
        self._learn(v, float(t), bool(failed), request_id, text, expected, predicted)
        return self

    def learn_many(
        self,
        X: np.ndarray,
        *,
        t: float | Sequence[float] | np.ndarray,
        failed: bool | Sequence[bool] | np.ndarray = True,
        request_ids: Sequence[str | None] | None = None,
        texts: Sequence[str | None] | None = None,
        expected: Sequence[str | None] | None = None,
        predicted: Sequence[str | None] | None = None,
    ) -> Self:
        """Learn the rows of ``X`` in order, in mini-batches of up to 256 rows (the fast path for a worker).

        As in ``MiniBatchKMeans.partial_fit``, the rows of one mini-batch are matched against the micro-clusters
        as they stood before it (one matrix product) and their updates are applied together; failures that
        match none are then taken in order, each joining a micro-cluster born earlier in the batch or founding
        a new one. Housekeeping runs between mini-batches. One row at a time, this is exactly :meth:`learn_one`.
        Scalars for ``t`` or ``failed`` apply to every row; sequences need one entry per row.
        """
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-d (n, d); got shape {X.shape}")
        m = len(X)
        if m == 0:
            return self
        if self._dim and X.shape[1] != self._dim:
            raise ValueError(f"expected rows of dimension {self._dim}; got {X.shape[1]}")
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))
        if not np.all(norms > 0) or not np.all(np.isfinite(norms)):
            raise ValueError("every embedding must be a finite, non-zero vector")
        V = X / norms[:, None]
        ts = np.broadcast_to(np.asarray(t, dtype=np.float64), (m,))
        if not np.all(np.isfinite(ts)) or np.any(ts < 0):
            raise ValueError("event times t must be finite seconds >= 0")
        fs = np.broadcast_to(np.asarray(failed, dtype=bool), (m,))

        def column(name: str, values: Sequence[str | None] | None) -> Sequence[str | None]:
            if values is None:
                return [None] * m
            if len(values) != m:
                raise ValueError(f"{name} has {len(values)} entries for {m} rows")
            return values

        rids, txts = column("request_ids", request_ids), column("texts", texts)
        exps, preds = column("expected", expected), column("predicted", predicted)
        for start in range(0, m, _BATCH):
            rows = slice(start, min(start + _BATCH, m))
            self._learn_batch(V[rows], ts[rows], fs[rows], rids[rows], txts[rows], exps[rows], preds[rows])
        return self

    def _learn_batch(
        self,
        V: np.ndarray,
        ts: np.ndarray,
        fs: np.ndarray,
        rids: Sequence[str | None],
        txts: Sequence[str | None],
        exps: Sequence[str | None],
        preds: Sequence[str | None],
    ) -> None:
        if not self._dim:
            self._allocate(V.shape[1])
        if not self._anchored:
            self._advance(float(ts[0]))
        self._advance(float(ts.max()))
        a = np.exp2((ts - self._slow.t0) / self.half_life)
        b = np.exp2((ts - self._fast.t0) / self.recent_half_life)
        self._cal.observe_many(V, fs, np.where(fs, 1.0, 1.0 / self.pass_sample_rate))
        self._sync()
        threshold = self._join_threshold()
        dist = self._cal.norm(V)
        along = V @ self._cal.direction_
        m, n = len(V), self._n
        k = np.full(m, -1, dtype=np.int64)
        match = np.zeros(m, dtype=bool)
        if n:
            sims = V @ self._C[:n].T - np.outer(along, self._Cmu[:n])
            k = sims.argmax(axis=1)
            match = sims[np.arange(m), k] / dist >= threshold
        passes = ~fs
        self._gf_slow += float(a[fs].sum())
        self._gf_fast += float(b[fs].sum())
        self._gp_slow += float(a[passes].sum())
        self._gp_fast += float(b[passes].sum())
        # 1. Matched rows update the micro-clusters they matched, all at once.
        hit = np.flatnonzero(fs & match)
        if hit.size:
            self._absorb_many(k[hit], V[hit], a[hit], b[hit], ts[hit])
            for i in hit.tolist():
                self._annotate(int(k[i]), float(a[i]), rids[i], txts[i], exps[i], preds[i])
        near = np.flatnonzero(passes & match)
        np.add.at(self._Ps, k[near], a[near])
        np.add.at(self._Pf, k[near], b[near])
        # 2. Unmatched failures in order: join a micro-cluster born in this batch, or found one.
        born: list[int] = []
        for i in np.flatnonzero(fs & ~match).tolist():
            v = V[i]
            j = -1
            if born:
                sims_born = self._C[born] @ v - along[i] * self._Cmu[born]
                jj = int(sims_born.argmax())
                if sims_born[jj] / dist[i] >= threshold:
                    j = born[jj]
            if j >= 0:
                self._absorb(j, v, float(a[i]), float(b[i]), float(ts[i]))
            else:
                j = self._birth(v, float(a[i]), float(b[i]), float(ts[i]))
                if j in born:  # the cap evicted a newborn for this one
                    born.remove(j)
                born.append(j)
            self._annotate(j, float(a[i]), rids[i], txts[i], exps[i], preds[i])
        # 3. Unmatched passes may fall near a micro-cluster born in this batch.
        lost = np.flatnonzero(passes & ~match)
        if lost.size and born:
            sims_born = V[lost] @ self._C[born].T - np.outer(along[lost], self._Cmu[born])
            jj = sims_born.argmax(axis=1)
            ok = sims_born[np.arange(lost.size), jj] / dist[lost] >= threshold
            slots = np.asarray(born)[jj[ok]]
            np.add.at(self._Ps, slots, a[lost[ok]])
            np.add.at(self._Pf, slots, b[lost[ok]])
        before = self._n_updates
        self._n_updates += m
        self._stale = True
        if self._n_updates // self.maintain_every > before // self.maintain_every:
            self._maintain()

    def _absorb_many(self, ks: np.ndarray, V: np.ndarray, a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> None:
        """Add rows to their micro-clusters, grouped by micro-cluster (one reduction per array)."""
        order = np.argsort(ks, kind="stable")
        ks, V, a, b, ts = ks[order], V[order], a[order], b[order], ts[order]
        slots, starts = np.unique(ks, return_index=True)
        self._S[slots] += np.add.reduceat(V * a[:, None], starts, axis=0)
        self._W[slots] += np.add.reduceat(a, starts)
        self._Q[slots] += np.add.reduceat(a * a, starts)
        self._Ff[slots] += np.add.reduceat(b, starts)
        self._last[slots] = np.maximum(self._last[slots], np.maximum.reduceat(ts, starts))
        self._first[slots] = np.minimum(self._first[slots], np.minimum.reduceat(ts, starts))
        self._recentre(slots)

    def _learn(
        self,
        v: np.ndarray,
        t: float,
        failed: bool,
        request_id: str | None,
        text: str | None,
        expected: str | None,
        predicted: str | None,
    ) -> None:
        if not self._dim:
            self._allocate(v.shape[0])
        self._advance(t)
        a = self._slow.weight(t)
        b = self._fast.weight(t)
        self._cal.observe(v, failed=failed, weight=1.0 if failed else 1.0 / self.pass_sample_rate)
        self._sync()
        n = self._n
        k, sim = -1, -math.inf
        if n:
            along = float(v @ self._cal.direction_)
            sims = self._C[:n] @ v
            sims -= along * self._Cmu[:n]
            k = int(sims.argmax())
            sim = float(sims[k]) / self._cal.norm_one(along)
        threshold = self._join_threshold()
        if failed:
            self._gf_slow += a
            self._gf_fast += b
            if sim >= threshold:
                self._absorb(k, v, a, b, t)
            else:
                k = self._birth(v, a, b, t)
            self._annotate(k, a, request_id, text, expected, predicted)
        else:
            self._gp_slow += a
            self._gp_fast += b
            if sim >= threshold:
                self._Ps[k] += a
                self._Pf[k] += b
        self._n_updates += 1
        self._stale = True
        if self._n_updates % self.maintain_every == 0:
            self._maintain()

    def _annotate(
        self, k: int, a: float, request_id: str | None, text: str | None, expected: str | None, predicted: str | None
    ) -> None:
        """Keep the failure's text as a possible exemplar and count its confusion."""
        if text is not None:
            self._sample(k, (request_id or "", text, expected, predicted))
        if expected is not None and predicted is not None:
            self._confuse(k, expected, predicted, a)

    def _advance(self, t: float) -> None:
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"event time t must be finite seconds >= 0; got {t!r}")
        if not self._anchored:
            self._slow.t0 = self._fast.t0 = t
            self._anchored = True
        self._latest = max(self._latest, t)
        if self._fast.needs_rebase(t):
            self._rebase(t)

    def _rebase(self, t: float) -> None:
        """Move the decay landmark to ``t`` and rescale every stored weight (rare: every ~30 recent half-lives)."""
        fs = self._slow.rebase(t)
        ff = self._fast.rebase(t)
        n = self._n
        self._S[:n] *= fs
        self._W[:n] *= fs
        self._Q[:n] *= fs * fs
        self._Ps[:n] *= fs
        self._Ff[:n] *= ff
        self._Pf[:n] *= ff
        self._gf_slow *= fs
        self._gp_slow *= fs
        self._gf_fast *= ff
        self._gp_fast *= ff
        for conf in self._conf[:n]:
            for key in conf:
                conf[key] *= fs

    def _absorb(self, k: int, v: np.ndarray, a: float, b: float, t: float) -> None:
        self._S[k] += a * v
        self._W[k] += a
        self._recentre_one(k)
        self._Q[k] += a * a
        self._Ff[k] += b
        self._last[k] = max(self._last[k], t)
        self._first[k] = min(self._first[k], t)

    def _birth(self, v: np.ndarray, a: float, b: float, t: float) -> int:
        if self._n < self.max_micro_clusters:
            k = self._n
            self._n += 1
        else:  # at the cap: evict the lightest (stored order equals decayed order)
            k = int(self._W[: self._n].argmin())
        self._S[k] = a * v
        self._C[k] = self._cal.centred(v)
        self._Cmu[k] = self._cal.removal_ * float(self._C[k] @ self._cal.direction_)
        self._W[k] = a
        self._Q[k] = a * a
        self._Ff[k] = b
        self._Ps[k] = self._Pf[k] = 0.0
        self._first[k] = self._last[k] = t
        self._gid[k] = -1
        self._nseen[k] = 0
        self._samples[k] = []
        self._conf[k] = {}
        return k

    def _sample(self, k: int, item: Sample) -> None:
        """Reservoir sampling (Vitter's algorithm R) of the texts that reached micro-cluster ``k``."""
        self._nseen[k] += 1
        bucket = self._samples[k]
        if len(bucket) < self.max_samples:
            bucket.append(item)
        else:
            j = self._rng.randrange(int(self._nseen[k]))
            if j < self.max_samples:
                bucket[j] = item

    def _confuse(self, k: int, expected: str, predicted: str, a: float) -> None:
        conf = self._conf[k]
        key = (expected, predicted)
        conf[key] = conf.get(key, 0.0) + a
        if len(conf) > 2 * N_CONFUSIONS:  # keep the heaviest pairs only (bounded memory)
            del conf[min(conf, key=conf.__getitem__)]

    # ------------------------------------------------------------------------------------------------ housekeeping

    def _maintain(self) -> None:
        """Drop decayed micro-clusters and merge near-duplicates, then compact the arrays."""
        n = self._n
        if n == 0:
            return
        keep = self._W[:n] * self._slow.factor(self._latest) >= self.prune_weight
        idx = np.flatnonzero(keep)
        if idx.size > 1:
            C = self._C[idx]
            sims = C @ C.T
            np.fill_diagonal(sims, -1.0)
            ii, jj = np.nonzero(np.triu(sims >= self.merge_threshold, k=1))
            used: set[int] = set()
            for p in np.argsort(-sims[ii, jj], kind="stable"):
                i, j = int(idx[ii[p]]), int(idx[jj[p]])
                if i in used or j in used:
                    continue
                if self._W[j] > self._W[i]:
                    i, j = j, i
                self._merge_micro(i, j)
                used.update((i, j))
                keep[j] = False
        self._compact(np.flatnonzero(keep))

    def _merge_micro(self, i: int, j: int) -> None:
        """Fold micro-cluster ``j`` into ``i`` (``j`` is removed by the caller)."""
        self._S[i] += self._S[j]
        for name in ("_W", "_Q", "_Ff", "_Ps", "_Pf", "_nseen"):
            arr = getattr(self, name)
            arr[i] += arr[j]
        self._recentre_one(i)
        self._first[i] = min(self._first[i], self._first[j])
        self._last[i] = max(self._last[i], self._last[j])
        if self._gid[i] < 0:
            self._gid[i] = self._gid[j]
        pool = self._samples[i] + self._samples[j]
        self._samples[i] = pool if len(pool) <= self.max_samples else self._rng.sample(pool, self.max_samples)
        conf = self._conf[i]
        for key, w in self._conf[j].items():
            conf[key] = conf.get(key, 0.0) + w
        while len(conf) > 2 * N_CONFUSIONS:
            del conf[min(conf, key=conf.__getitem__)]

    def _compact(self, keep: np.ndarray) -> None:
        m = len(keep)
        if m == self._n:
            return
        for name in self._ROW_ARRAYS:
            arr = getattr(self, name)
            arr[:m] = arr[keep]
        self._samples[:m] = [self._samples[k] for k in keep]
        self._conf[:m] = [self._conf[k] for k in keep]
        for k in range(m, self._n):
            self._samples[k] = []
            self._conf[k] = {}
        self._n = m
        self._stale = True

    # ------------------------------------------------------------------------------------------------ regrouping

    def _ensure_grouped(self) -> None:
        if self._stale:
            self._regroup()

    def _regroup(self) -> None:
        """Group micro-clusters into clusters, carry ids over and advance each cluster's lifecycle."""
        n = self._n
        labels = self._group_with_confusions(self._centred_sums(), self._W[:n], self._Q[:n])
        n_groups = int(labels.max()) + 1 if n else 0
        W_g = np.bincount(labels, weights=self._W[:n], minlength=n_groups)
        eligible = W_g * self._slow.factor(self._latest) >= self.min_weight
        ids, merged, self._next_id = match_groups(self._gid[:n], labels, self._W[:n], eligible, self._next_id)
        self._gid[:n] = ids[labels]
        growth = self._growth(labels, n_groups)
        states: dict[int, str] = {}
        for g in np.flatnonzero(eligible):
            cid = int(ids[g])
            states[cid] = next_state(
                self._states.get(cid),
                growth=float(growth[g]),
                growing_ratio=self.growing_ratio,
                fading_ratio=self.fading_ratio,
            )
        self._states = states
        for old, new in merged.items():
            self._merged.pop(old, None)
            self._merged[old] = new
        for old in list(self._merged)[: max(0, len(self._merged) - MERGED_HISTORY)]:
            del self._merged[old]
        self._labels = labels
        self._build_group_cache()
        self._stale = False

    def _growth(self, labels: np.ndarray, n_groups: int) -> np.ndarray:
        n = self._n
        F_fast = np.bincount(labels, weights=self._Ff[:n], minlength=n_groups)
        F_slow = np.bincount(labels, weights=self._W[:n], minlength=n_groups)
        s = self.pass_sample_rate
        traffic_fast = self._gf_fast + self._gp_fast / s
        traffic_slow = self._gf_slow + self._gp_slow / s
        baseline = traffic_fast / traffic_slow if traffic_slow > 0 else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(F_slow > 0, F_fast / F_slow, 0.0) / baseline
        return g

    def _group_with_confusions(self, S: np.ndarray, W: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """Group micro-clusters, first joining those whose failures share one dominant (expected, predicted) pair.

        A shared confusion is the strongest evidence that failures are one pattern (the model makes one
        mistake), whatever the phrasings' geometry; it only joins micro-clusters on the same side of the
        traffic (positive projected cosine). Without labels this is plain linkage.
        """
        n = len(W)
        first = np.arange(n)
        lead: dict[tuple[str, str], int] = {}
        for k in np.argsort(-W, kind="stable").tolist():
            conf = self._conf[k]
            if not conf:
                continue
            key = max(conf, key=lambda pair: (conf[pair], pair))
            if conf[key] < 0.5 * sum(conf.values()):
                continue  # no dominant confusion: geometry alone decides
            j = lead.setdefault(key, k)
            if j != k and float(S[k] @ S[j]) > 0.0:
                first[k] = j
        _, first = np.unique(first, return_inverse=True)
        m = int(first.max()) + 1 if n else 0
        if m == n:
            return group_micro_clusters(S, W, Q, self.link_threshold)
        S1 = np.zeros((m, S.shape[1]))
        np.add.at(S1, first, S)
        labels = group_micro_clusters(S1, np.bincount(first, W, m), np.bincount(first, Q, m), self.link_threshold)[first]
        _, where, inverse = np.unique(labels, return_index=True, return_inverse=True)
        return np.argsort(np.argsort(where))[inverse].astype(np.int64)  # numbered in order of first member

    def _centred_sums(self) -> np.ndarray:
        """Sums of the members' projections, scaled so projected dot products read as cosines.

        The projection is linear, so projecting ``S`` is exact; dividing by the traffic's mean squared projected
        norm makes the linkage's pair and self terms comparable (one scale for every point).
        """
        S = self._S[: self._n]
        return self._cal.project(S) / math.sqrt(self._cal.spread_)

    def _build_group_cache(self) -> None:
        """Centroids of the clusters, for :meth:`assign_one`, from the current labels and ids."""
        n = self._n
        labels = self._labels[:n]
        n_groups = int(labels.max()) + 1 if n else 0
        ids = np.full(n_groups, -1, dtype=np.int64)
        ids[labels] = self._gid[:n]
        live = ids >= 0

        def group_total(arr: np.ndarray) -> np.ndarray:
            out = np.zeros((n_groups, *arr.shape[1:]))
            np.add.at(out, labels, arr)
            return out[live]

        def unit(rows: np.ndarray) -> np.ndarray:
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)

        centred = group_total(self._centred_sums()) if n else np.zeros((0, self._dim))
        self._group_raw = unit(group_total(self._S[:n]) if n else np.zeros((0, self._dim)))
        self._group_C = unit(centred)
        self._group_Cmu = self._cal.removal_ * (self._group_C @ self._cal.direction_)
        W, Q = group_total(self._W[:n]), group_total(self._Q[:n])
        self._group_coh = coherence(np.einsum("ij,ij->i", centred, centred), W, Q)
        self._group_ids = ids[live]

    def _accepts(self, sims: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Whether centred cosines ``sims`` to clusters ``k`` are close enough to count as members."""
        if self.assign_threshold is not None:
            return sims >= self.assign_threshold
        # A member's expected centred cosine to its cluster's centroid is sqrt(coherence).
        return sims >= ASSIGN_RATIO * np.sqrt(self._group_coh[k])

    # ------------------------------------------------------------------------------------------------ queries

    def assign_one(self, x: np.ndarray) -> int | None:
        """Id of the nearest cluster if its centroid is within ``assign_threshold``, else ``None`` (outlier)."""
        self._check_fitted()
        self._ensure_grouped()
        if not len(self._group_ids):
            return None
        v = self._unit(x)
        along = float(v @ self._cal.direction_)
        sims = (self._group_C @ v - along * self._group_Cmu) / float(self._cal.norm(v))
        k = int(sims.argmax())
        return int(self._group_ids[k]) if self._accepts(sims[k : k + 1], np.array([k]))[0] else None

    def predict_many(self, X: np.ndarray) -> np.ndarray:
        """:meth:`assign_one` for each row of ``X``; ``-1`` marks outliers."""
        self._check_fitted()
        self._ensure_grouped()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self._dim:
            raise ValueError(f"X must have shape (n, {self._dim}); got {X.shape}")
        out = np.full(len(X), -1, dtype=np.int64)
        if not len(self._group_ids) or not len(X):
            return out
        norms = np.linalg.norm(X, axis=1)
        U = X / np.where(norms > 0, norms, 1.0)[:, None]
        sims = (U @ self._group_C.T - np.outer(U @ self._cal.direction_, self._group_Cmu)) / self._cal.norm(U)[:, None]
        k = sims.argmax(axis=1)
        ok = self._accepts(sims[np.arange(len(X)), k], k)
        out[ok] = self._group_ids[k[ok]]
        return out

    def snapshot(self, now: float | None = None) -> Snapshot:
        """Every cluster's statistics at event time ``now`` (default: the latest event time)."""
        self._check_fitted()
        self._ensure_grouped()
        now = self._latest if now is None else float(now)
        n = self._n
        fs, ff = self._slow.factor(now), self._fast.factor(now)
        s = self.pass_sample_rate
        labels = self._labels[:n]
        n_groups = int(labels.max()) + 1 if n else 0

        def total(arr: np.ndarray) -> np.ndarray:
            return np.bincount(labels, weights=arr[:n], minlength=n_groups)

        size, f_recent = total(self._W) * fs, total(self._Ff) * ff
        p_recent, p_slow = total(self._Pf) * ff, total(self._Ps) * fs
        growth = self._growth(labels, n_groups)
        traffic = (self._gf_slow + self._gp_slow / s) * fs
        ids = np.full(n_groups, -1, dtype=np.int64)
        ids[labels] = self._gid[:n]
        members: dict[int, list[int]] = {}
        for k, g in enumerate(labels.tolist()):
            if ids[g] >= 0:
                members.setdefault(g, []).append(k)
        groups = sorted(members, key=lambda g: int(ids[g]))
        counts = [self._term_counts(members[g]) for g in groups]
        keywords = keywords_from_counts(counts, top_k=N_KEYWORDS)
        centroid_of = dict(zip(self._group_ids.tolist(), self._group_raw, strict=True))
        clusters = []
        for g, kw in zip(groups, keywords, strict=True):
            ks = members[g]
            cid = int(ids[g])
            clusters.append(
                ClusterStats(
                    id=cid,
                    state=self._states.get(cid, "born"),
                    size=float(size[g]),
                    failures_recent=float(f_recent[g]),
                    passes_sampled_recent=float(p_recent[g]),
                    passes_recent=float(p_recent[g] / s),
                    traffic_share=float(min(1.0, (size[g] + p_slow[g] / s) / traffic)) if traffic > 0 else 0.0,
                    growth=float(growth[g]),
                    first_seen=float(self._first[ks].min()),
                    last_seen=float(self._last[ks].max()),
                    confusions=self._confusions(ks, fs),
                    exemplars=self._exemplars(ks),
                    keywords=tuple(kw),
                    name=cluster_name(kw, fallback=f"cluster {cid}"),
                    n_micro=len(ks),
                    centroid=centroid_of[cid],
                )
            )
        return Snapshot(
            time=now,
            clusters=tuple(clusters),
            merged=dict(self._merged),
            failures_recent=self._gf_fast * ff,
            passes_sampled_recent=self._gp_fast * ff,
            pass_sample_rate=s,
            n_updates=self._n_updates,
        )

    def _term_counts(self, ks: list[int]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for k in ks:
            for _, text, _, _ in self._samples[k]:
                toks = self._tokens.get(text)
                if toks is None:
                    if len(self._tokens) > 50_000:
                        self._tokens.clear()
                    toks = self._tokens[text] = tuple(tokenize(text))
                counts.update(toks)
        return counts

    def _confusions(self, ks: list[int], fs: float) -> tuple[Confusion, ...]:
        total: dict[tuple[str, str], float] = {}
        for k in ks:
            for key, w in self._conf[k].items():
                total[key] = total.get(key, 0.0) + w
        top = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:N_CONFUSIONS]
        return tuple(Confusion(expected=e, predicted=p, count=round(w * fs)) for (e, p), w in top if round(w * fs) > 0)

    def _exemplars(self, ks: list[int]) -> tuple[Exemplar, ...]:
        """Round-robin over member micro-clusters, heaviest first, so exemplars span the cluster."""
        order = sorted(ks, key=lambda k: (-self._W[k], k))
        out: list[Exemplar] = []
        seen: set[str] = set()
        for depth in range(self.max_samples):
            for k in order:
                bucket = self._samples[k]
                if depth < len(bucket):
                    rid, text, exp, pred = bucket[depth]
                    if rid and rid not in seen:
                        seen.add(rid)
                        out.append(Exemplar(request_id=rid, text=text, expected=exp, predicted=pred))
                        if len(out) == N_EXEMPLARS:
                            return tuple(out)
        return tuple(out)

    # ------------------------------------------------------------------------------------------------ persistence

    def to_bytes(self) -> bytes:
        """The whole learned state (with parameters) as one blob: numpy arrays plus JSON, never pickle."""
        n = self._n
        arrays = {name.lstrip("_"): getattr(self, name)[:n] for name in self._ROW_ARRAYS} if self._dim else {}
        arrays["labels"] = self._labels[:n]
        cal_arrays, cal_meta = self._cal.state()
        arrays.update({f"cal_{k}": v for k, v in cal_arrays.items()})
        rng_state = self._rng.getstate()
        meta = {
            "version": STATE_VERSION,
            "class": type(self).__name__,
            "params": self.get_params(),
            "dim": self._dim,
            "n": n,
            "n_updates": self._n_updates,
            "next_id": self._next_id,
            "latest": self._latest if math.isfinite(self._latest) else None,
            "t0": self._slow.t0,
            "anchored": self._anchored,
            "global": [self._gf_slow, self._gf_fast, self._gp_slow, self._gp_fast],
            "rng": [rng_state[0], list(rng_state[1]), rng_state[2]],
            "samples": [[list(s) for s in self._samples[k]] for k in range(n)],
            "confusions": [[[e, p, w] for (e, p), w in self._conf[k].items()] for k in range(n)],
            "states": [[cid, st] for cid, st in self._states.items()],
            "merged": [[old, new] for old, new in self._merged.items()],
            "stale": self._stale,
            "calibration": cal_meta,
            "cal_version": self._cal_version,
        }
        return pack(arrays, meta)

    @classmethod
    def from_bytes(cls, blob: bytes) -> IncrementalClusterer:
        """Rebuild a clusterer from :meth:`to_bytes`; it continues exactly where the saved one stopped."""
        arrays, meta = unpack(blob)
        if meta.get("class") != cls.__name__ or meta.get("version") != STATE_VERSION:
            found = f"{meta.get('class')} v{meta.get('version')}"
            raise ValueError(f"state is for {found}, not {cls.__name__} v{STATE_VERSION}")
        obj = cls(**meta["params"])
        obj._n_updates = int(meta["n_updates"])
        obj._next_id = int(meta["next_id"])
        obj._latest = -math.inf if meta["latest"] is None else float(meta["latest"])
        obj._slow.t0 = obj._fast.t0 = float(meta["t0"])
        obj._anchored = bool(meta["anchored"])
        obj._gf_slow, obj._gf_fast, obj._gp_slow, obj._gp_fast = (float(v) for v in meta["global"])
        version, internal, gauss = meta["rng"]
        obj._rng.setstate((version, tuple(internal), gauss))
        obj._states = {int(cid): str(st) for cid, st in meta["states"]}
        obj._merged = {int(old): int(new) for old, new in meta["merged"]}
        obj._cal.load({k[4:]: v for k, v in arrays.items() if k.startswith("cal_")}, meta["calibration"])
        obj._cal_version = int(meta["cal_version"])
        if meta["dim"]:
            obj._allocate(int(meta["dim"]))
            n = obj._n = int(meta["n"])
            for name in obj._ROW_ARRAYS:
                getattr(obj, name)[:n] = arrays[name.lstrip("_")]
            for k in range(n):
                obj._samples[k] = [tuple(s) for s in meta["samples"][k]]  # type: ignore[misc]
                obj._conf[k] = {(e, p): float(w) for e, p, w in meta["confusions"][k]}
            obj._labels = arrays["labels"].astype(np.int64)
        obj._stale = bool(meta["stale"])
        if obj._n and not obj._stale:
            obj._build_group_cache()
        else:  # saved between a change and its regrouping: its labels lag its micro-clusters; regroup on use
            obj._stale = True
        return obj

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_bytes` to ``path`` atomically."""
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> IncrementalClusterer:
        return cls.from_bytes(Path(path).read_bytes())

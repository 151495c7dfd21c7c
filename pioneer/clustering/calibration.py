"""The geometry of the traffic a clusterer sees: its centre and how close neighbours typically are.

Sentence embeddings of one product's traffic share a large common component (every banking request looks like
banking), so raw cosines between different intents of a fine-grained domain sit far above zero and a fixed
cosine threshold merges them. With the traffic's common direction projected out they fall back to about zero
whatever the domain, while members of one pattern stay clearly positive (the "all-but-the-top" post-processing
of Mu and Viswanath, ICLR 2018, kept online). Projecting rather than subtracting the mean matters: a subtracted
mean would give every out-of-domain failure the same large offset, and they would all look alike.
:class:`GeometryCalibrator` keeps that direction (of a decayed mean of all embedded traffic, its removal faded in
while little has been seen) and a streaming sample of nearest-neighbour similarities among recent failures,
measured after the projection. A clusterer reads its joining threshold off that sample (a quantile) instead of a
constant fitted to one dataset.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> base = np.eye(16)[0] * 3.0                     # a strong shared component, as in one domain's traffic
>>> cal = GeometryCalibrator(window=64, quantile=0.5)
>>> for i in range(300):
...     x = base + np.eye(16)[1 + i % 2] + 0.1 * rng.standard_normal(16)
...     _ = cal.observe(x / np.linalg.norm(x), failed=True)
>>> bool(cal.direction_ @ np.eye(16)[0] > 0.9)     # the shared component is the common direction
True
>>> bool(cal.join_threshold_ > 0.8)                # neighbours are close once the centre is removed
True
"""

from __future__ import annotations

import math

import numpy as np

from pioneer.base import check_number

WARMUP = 16.0
"""Traffic (in updates) at which the common direction is half removed: early on it is a guess."""
NN_SAMPLES = 1024
"""Nearest-neighbour similarities kept for the quantile (a ring: the recent geometry)."""
MIN_SAMPLES = 8
"""Nearest-neighbour similarities needed before the quantile replaces the prior."""
PRIOR_JOIN = 0.5
"""Joining threshold before any evidence: half-way between unrelated (0) and identical (1) once projected."""
MOVED = 1e-3
"""Change of the projection (direction cosine or removed share) that makes clusterers re-project centroids."""


class GeometryCalibrator:
    """The traffic's common direction and a streaming quantile of nearest-neighbour similarities without it.

    Parameters
    ----------
    window
        Recent failures kept to find each sampled failure's nearest neighbour, >= 2.
    quantile
        Quantile of the nearest-neighbour similarities used as the joining threshold, in (0, 1).
    memory
        Updates over which the mean's weights decay by ``1/e`` (the direction follows the traffic), > 0.
    sample_every
        Every how many failures one nearest-neighbour similarity is measured (keeps the hot path cheap), >= 1.
    refresh_every
        Updates between recomputations of the direction and the threshold, >= 1.

    Attributes
    ----------
    direction_
        Unit direction of the traffic's mean (zero before anything was seen).
    removal_
        Share of that direction removed from every embedding, in [0, 1) (grows with the traffic seen).
    join_threshold_
        The calibrated joining threshold (a cosine after the projection).
    """

    def __init__(
        self, window: int = 512, quantile: float = 0.25, memory: float = 8192.0, sample_every: int = 8,
        refresh_every: int = 256,
    ) -> None:
        check_number("window", window, 2, integer=True)
        check_number("quantile", quantile, 0.0, 1.0, open_low=True, open_high=True)
        check_number("memory", memory, 0.0, open_low=True)
        check_number("sample_every", sample_every, 1, integer=True)
        check_number("refresh_every", refresh_every, 1, integer=True)
        self.window = window
        self.quantile = quantile
        self.memory = memory
        self.sample_every = sample_every
        self.refresh_every = refresh_every
        self._reset()

    def _reset(self) -> None:
        self._dim = 0
        self._sum = np.zeros(0)
        self._weight = 0.0
        self._count = 0.0
        self._mu = np.zeros(0, dtype=np.float32)
        self._lam = 0.0
        self._r2 = 1.0
        self._buf = np.zeros((0, 0), dtype=np.float32)
        self._buf_along = np.zeros(0, dtype=np.float32)
        self._mu64 = np.zeros(0)
        self._n_buf = 0
        self._next_buf = 0
        self._nn = np.zeros(NN_SAMPLES)
        self._n_nn = 0
        self._next_nn = 0
        self._failures = 0
        self._since_refresh = 0
        self._tau = PRIOR_JOIN
        self.version = 0
        """Bumped whenever the projection moved, so a clusterer knows when to re-project its centroids."""

    def _allocate(self, dim: int) -> None:
        self._dim = dim
        self._sum = np.zeros(dim)
        self._mu = np.zeros(dim, dtype=np.float32)
        self._mu64 = np.zeros(dim)
        self._buf = np.zeros((self.window, dim), dtype=np.float32)
        self._buf_along = np.zeros(self.window, dtype=np.float32)

    # ------------------------------------------------------------------------------------------------ reading

    @property
    def direction_(self) -> np.ndarray:
        return self._mu

    @property
    def direction64_(self) -> np.ndarray:
        """:attr:`direction_` in float64 (for dot products with float64 sums, without a cast per call)."""
        return self._mu64

    @property
    def removal_(self) -> float:
        return self._lam

    @property
    def join_threshold_(self) -> float:
        return self._tau

    @property
    def spread_(self) -> float:
        """Mean squared norm of projected unit embeddings of the traffic (1 when nothing is removed)."""
        return self._r2

    def project(self, V: np.ndarray) -> np.ndarray:
        """``V`` (rows, or one vector) with the removed share of the common direction taken out."""
        V = np.asarray(V)
        return V - self._lam * np.multiply.outer(V @ self._mu, self._mu)

    def norm_one(self, along: float) -> float:
        """:meth:`norm` of one unit vector from its component ``along`` the direction (the scalar hot path)."""
        return math.sqrt(max(1.0 - (2.0 * self._lam - self._lam**2) * along * along, 1e-12))

    def norm(self, V: np.ndarray) -> np.ndarray:
        """Norm of the projection of unit rows (or one unit vector), never below a tiny floor."""
        along = V @ self._mu
        return np.sqrt(np.maximum(1.0 - (2.0 * self._lam - self._lam**2) * along * along, 1e-12))

    def centred(self, V: np.ndarray) -> np.ndarray:
        """Unit directions of the projections of ``V`` (rows), or ``V`` itself where the projection vanishes."""
        M = self.project(np.asarray(V, dtype=np.float32))
        norms = np.linalg.norm(M, axis=-1, keepdims=True)
        return np.where(norms > 1e-6, M / np.maximum(norms, 1e-12), V).astype(np.float32)

    # ------------------------------------------------------------------------------------------------ learning

    def observe(self, v: np.ndarray, *, failed: bool, weight: float = 1.0) -> bool:
        """Take one unit vector (``weight`` is how much traffic it stands for); True when the centre moved."""
        if not self._dim:
            self._allocate(v.shape[0])
        keep = math.exp(-1.0 / self.memory)
        self._sum *= keep
        self._sum += weight * v
        self._weight = self._weight * keep + weight
        self._count += 1.0
        if failed:
            self._failures += 1
            if self._failures % self.sample_every == 0 and self._n_buf:
                self._push_nn(self._nearest(v[None, :]))
            k = self._next_buf
            self._buf[k] = v
            self._buf_along[k] = v @ self._mu
            self._next_buf = (k + 1) % self.window
            self._n_buf = min(self._n_buf + 1, self.window)
        return self._tick(1)

    def observe_many(self, V: np.ndarray, failed: np.ndarray, weights: np.ndarray) -> bool:
        """:meth:`observe` for a mini-batch of unit rows (neighbours are searched among earlier batches)."""
        if not self._dim:
            self._allocate(V.shape[1])
        m = len(V)
        keep = np.exp(-np.arange(m - 1, -1, -1) / self.memory)
        self._sum *= math.exp(-m / self.memory)
        self._sum += (weights * keep) @ V
        self._weight = self._weight * math.exp(-m / self.memory) + float(weights @ keep)
        self._count += m
        rows = np.flatnonzero(failed)
        if rows.size:
            ticks = self._failures + 1 + np.arange(rows.size)
            sampled = rows[ticks % self.sample_every == 0]
            self._failures += rows.size
            if sampled.size:
                self._push_nn(self._nearest(V[sampled], V[rows], np.searchsorted(rows, sampled)))
            self._push_buf(V[rows[-self.window :]])
        return self._tick(m)

    def _nearest(self, V: np.ndarray, F: np.ndarray | None = None, own: np.ndarray | None = None) -> np.ndarray:
        """Each row's highest projected cosine to the recent failures, and to the rows of ``F`` but its own.

        ``own[i]`` is row ``i``'s index in ``F`` (a mini-batch's failures, searched as well so that the first
        batch already yields evidence). No projected copy of the buffer is needed.
        """
        gamma = 2.0 * self._lam - self._lam**2
        B, along_b = self._buf[: self._n_buf], self._buf_along[: self._n_buf]
        if F is not None and own is not None:
            B, along_b = np.concatenate([B, F]), np.concatenate([along_b, F @ self._mu])
        norm_b = np.sqrt(np.maximum(1.0 - gamma * along_b * along_b, 1e-12))
        along_v = V @ self._mu
        sims = (V @ B.T - gamma * np.outer(along_v, along_b)) / norm_b
        if F is not None and own is not None:
            sims[np.arange(len(V)), self._n_buf + own] = -np.inf
        best = sims.max(axis=1) / self.norm(V)
        return best[np.isfinite(best)]

    def _push_buf(self, V: np.ndarray) -> None:
        along = V @ self._mu
        for v, a in zip(V, along.tolist(), strict=True):
            k = self._next_buf
            self._buf[k] = v
            self._buf_along[k] = a
            self._next_buf = (k + 1) % self.window
            self._n_buf = min(self._n_buf + 1, self.window)

    def _push_nn(self, values: np.ndarray) -> None:
        for value in values.tolist():
            self._nn[self._next_nn] = value
            self._next_nn = (self._next_nn + 1) % NN_SAMPLES
            self._n_nn = min(self._n_nn + 1, NN_SAMPLES)

    def _tick(self, m: int) -> bool:
        self._since_refresh += m
        # Early on, refresh at powers of two: the geometry is unknown and cheap to recompute.
        early = self._n_nn < MIN_SAMPLES or (self._count <= self.refresh_every and int(self._count).bit_count() == 1)
        if self._since_refresh >= self.refresh_every or early:
            self.refresh()
            return True
        return False

    def refresh(self) -> None:
        """Recompute the direction, the removed share and the joining threshold; bump ``version`` if it moved."""
        self._since_refresh = 0
        if not self._weight:
            return
        mean = self._sum / self._weight
        size = float(np.sqrt(mean @ mean))
        if size < 1e-9:
            return
        mu = (mean / size).astype(np.float32)
        lam = self._count / (self._count + WARMUP)
        moved = abs(lam - self._lam) > MOVED or float(mu @ self._mu) < 1.0 - MOVED
        if moved:
            self._mu, self._lam = mu, lam
            self._mu64 = mu.astype(np.float64)
            self._buf_along[: self._n_buf] = self._buf[: self._n_buf] @ mu
        # E|P v|^2 for unit v, taking (v . mu)^2 ~ |mean|^2: the scale of projected dot products.
        self._r2 = max(1.0 - (2.0 * self._lam - self._lam**2) * size * size, 1e-6)
        if self._n_nn >= MIN_SAMPLES:
            self._tau = float(np.clip(np.quantile(self._nn[: self._n_nn], self.quantile), 0.05, 0.95))
        if moved:
            self.version += 1

    # ------------------------------------------------------------------------------------------------ persistence

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {"sum": self._sum, "mu": self._mu, "buf": self._buf[: self._n_buf],
                  "buf_along": self._buf_along[: self._n_buf], "nn": self._nn[: self._n_nn]}
        meta = {"dim": self._dim, "weight": self._weight, "count": self._count, "next_buf": self._next_buf,
                "next_nn": self._next_nn, "failures": self._failures, "since": self._since_refresh,
                "lam": self._lam, "r2": self._r2, "tau": self._tau, "version": self.version}
        return arrays, meta

    def load(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self._reset()
        if not meta["dim"]:
            return
        self._allocate(int(meta["dim"]))
        self._sum[:] = arrays["sum"]
        self._weight, self._count = float(meta["weight"]), float(meta["count"])
        self._n_buf = len(arrays["buf"])
        self._buf[: self._n_buf] = arrays["buf"]
        self._n_nn = len(arrays["nn"])
        self._nn[: self._n_nn] = arrays["nn"]
        self._next_buf, self._next_nn = int(meta["next_buf"]), int(meta["next_nn"])
        self._failures = int(meta["failures"])
        self._buf_along[: self._n_buf] = arrays["buf_along"]
        self._mu[:] = arrays["mu"]
        self._mu64 = self._mu.astype(np.float64)
        self._lam, self._r2, self._tau = float(meta["lam"]), float(meta["r2"]), float(meta["tau"])
        self.version = int(meta["version"])
        self._since_refresh = int(meta["since"])

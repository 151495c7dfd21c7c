"""Group micro-clusters into clusters: average linkage over their member points, normalised by coherence.

A micro-cluster summarises its (decay-weighted) unit vectors by their sum ``S``, total weight ``W`` and sum of
squared weights ``Q``. That is enough for exact average linkage over the underlying points, because the mean
cosine between the members of A and of B is ``S_A . S_B / (W_A W_B)``, and for the mean cosine within A,
``(|S_A|^2 - Q_A) / (W_A^2 - Q_A)``. Dividing the cross term by the geometric mean of the two within terms
asks "are A and B about as similar to each other as each is to itself?". For large clusters that tends to the
cosine of their centroids; for small ones the within term is shrunk towards a prior so a singleton (whose own
coherence is undefined) is judged against a typical cluster. Merging stops when no pair reaches the threshold.

>>> import numpy as np
>>> a, b = np.array([1.0, 0.0]), np.array([0.8, 0.6])
>>> S = np.array([a * 2, b * 2, [-1.0, 0.0]])          # two near micro-clusters and a far singleton
>>> group_micro_clusters(S, W=np.array([2.0, 2.0, 1.0]), Q=np.array([2.0, 2.0, 1.0]), threshold=0.6)
array([0, 0, 1])
"""

from __future__ import annotations

import numpy as np

PRIOR_COHERENCE = 0.35
"""Mean within-cluster cosine assumed before a cluster has shown its own (a loose MiniLM intent is about this)."""
PRIOR_PAIRS = 10.0
"""Weight of the prior, in pairs of points. Both were calibrated on CLINC150 draws disjoint from the benchmark's."""


def coherence(self_dot: np.ndarray, W: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Shrunk mean within-cluster cosine from ``|S|^2``, ``W`` and ``Q`` (all arrays of the same shape)."""
    denom = W * W - Q
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(denom > 1e-12 * W * W, (self_dot - Q) / denom, PRIOR_COHERENCE)
        n_eff = np.where(Q > 0, W * W / Q, 1.0)
    pairs = np.maximum(n_eff - 1.0, 0.0)
    shrunk = (rho * pairs + PRIOR_COHERENCE * PRIOR_PAIRS) / (pairs + PRIOR_PAIRS)
    return np.clip(shrunk, 1e-3, 1.0)


def group_micro_clusters(
    S: np.ndarray, W: np.ndarray, Q: np.ndarray, threshold: float, *, gram: np.ndarray | None = None
) -> np.ndarray:
    """Label each micro-cluster with a group index ``0..g-1`` (greedy agglomeration, best pair first).

    ``S`` is ``(n, d)``, ``W`` and ``Q`` are ``(n,)``; every scale cancels, so stored (un-decayed) values work.
    ``gram`` may pass a precomputed ``S @ S.T``. Groups are numbered in order of their first member.
    """
    n = len(W)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    G = np.array(S @ S.T if gram is None else gram, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64).copy()
    Q = np.asarray(Q, dtype=np.float64).copy()
    coh = coherence(np.diag(G).copy(), W, Q)
    A = G / (np.outer(W, W) * np.sqrt(np.outer(coh, coh)))
    np.fill_diagonal(A, -np.inf)
    alive = np.ones(n, dtype=bool)
    parent = np.arange(n)
    row_arg = A.argmax(axis=1)
    row_max = A[np.arange(n), row_arg]
    while True:
        i = int(row_max.argmax())
        if not row_max[i] >= threshold:
            break
        j = int(row_arg[i])
        # Merge j into i: Gram rows add, the self term picks up the cross term twice.
        gii = G[i, i] + 2.0 * G[i, j] + G[j, j]
        G[i, :] += G[j, :]
        G[:, i] = G[i, :]
        G[i, i] = gii
        W[i] += W[j]
        Q[i] += Q[j]
        coh[i] = coherence(np.array([gii]), W[i : i + 1], Q[i : i + 1])[0]
        alive[j] = False
        parent[j] = i
        row = G[i, :] / (W[i] * W * np.sqrt(coh[i] * coh))
        row[~alive] = -np.inf
        row[i] = -np.inf
        A[i, :] = row
        A[:, i] = row
        A[j, :] = -np.inf
        A[:, j] = -np.inf
        row_max[j] = -np.inf
        # Rows whose best partner was i or j must be rescanned; others may only have gained i.
        stale = np.flatnonzero(alive & ((row_arg == i) | (row_arg == j)))
        for k in stale:
            row_arg[k] = int(A[k].argmax())
            row_max[k] = A[k, row_arg[k]]
        better = alive & (row > row_max)
        row_max[better] = row[better]
        row_arg[better] = i
        row_arg[i] = int(A[i].argmax())
        row_max[i] = A[i, row_arg[i]]
    # Resolve each micro-cluster to its root, then renumber roots in order of first appearance.
    roots = parent.copy()
    while True:
        nxt = parent[roots]
        if np.array_equal(nxt, roots):
            break
        roots = nxt
    _, first_idx, inverse = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_idx))
    return order[inverse].astype(np.int64)

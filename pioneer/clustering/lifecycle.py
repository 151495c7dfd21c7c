"""Stable cluster ids across regroupings, and each cluster's lifecycle state.

Clusters are recomputed from micro-clusters now and then, so a cluster's identity is carried by its members:
a new group inherits the id of the previous cluster it shares the most (decayed) weight with, one id per group.
A previous id whose weight now sits inside another cluster's group was *merged* into it; a group with no
predecessor is *born*. After that a cluster is *growing*, *stable* or *fading* according to its growth, the
ratio of its recent to its long-run failure rate (normalised by the same ratio for all traffic).

>>> import numpy as np
>>> prev = np.array([7, 7, 9, -1])                      # micro-clusters 0,1 were cluster 7, micro 2 was 9
>>> labels = np.array([0, 0, 0, 1])                     # now 0,1,2 form one group, 3 its own
>>> ids, merged, nxt = match_groups(prev, labels, np.array([5.0, 5.0, 2.0, 4.0]), np.array([True, True]), 10)
>>> ids.tolist(), merged, nxt
([7, 10], {9: 7}, 11)
>>> next_state(None, growth=1.0, growing_ratio=1.5, fading_ratio=0.5)
'born'
>>> next_state("born", growth=3.0, growing_ratio=1.5, fading_ratio=0.5)
'growing'
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

LIVE_STATES = ("born", "growing", "stable", "fading")
"""States of a cluster that still exists; ``merged`` is terminal and reported once."""


def match_groups(
    prev_ids: np.ndarray, labels: np.ndarray, weights: np.ndarray, eligible: np.ndarray, next_id: int
) -> tuple[np.ndarray, dict[int, int], int]:
    """Give each eligible group a stable id.

    ``prev_ids[m]`` is micro-cluster m's previous cluster id (-1 for none), ``labels[m]`` its new group,
    ``weights[m]`` its weight, ``eligible[g]`` whether group g is big enough to be a cluster. Returns the id of
    each group (-1 when not eligible), the previous ids merged into another cluster (``{old: new}``), and the
    next unused id. Ties break towards lower ids and group indices, so the result is deterministic.
    """
    overlap: dict[tuple[int, int], float] = defaultdict(float)
    for pid, g, w in zip(prev_ids.tolist(), labels.tolist(), weights.tolist(), strict=True):
        if pid >= 0 and eligible[g]:
            overlap[(g, pid)] += w
    ids = np.full(len(eligible), -1, dtype=np.int64)
    taken: set[int] = set()
    for (g, pid), _ in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if ids[g] < 0 and pid not in taken:
            ids[g] = pid
            taken.add(pid)
    for g in np.flatnonzero(eligible & (ids < 0)):
        ids[g] = next_id
        next_id += 1
    merged: dict[int, int] = {}
    best: dict[int, tuple[float, int]] = {}
    for (g, pid), w in overlap.items():
        if pid not in taken and (pid not in best or (w, -g) > (best[pid][0], -best[pid][1])):
            best[pid] = (w, g)
    for pid, (_, g) in sorted(best.items()):
        merged[pid] = int(ids[g])
    return ids, merged, next_id


def next_state(previous: str | None, *, growth: float, growing_ratio: float, fading_ratio: float) -> str:
    """Lifecycle state after one regrouping: ``born`` the first time, then by growth."""
    if previous is None:
        return "born"
    if growth >= growing_ratio:
        return "growing"
    if growth <= fading_ratio:
        return "fading"
    return "stable"

"""How widely a model's failures spread, and the retrain mode that follows from it.

The mode follows the share of the version's failures that its few largest clusters hold: when they hold most of
them (``concentrated``) surgical work on those clusters (the emerging patterns among them) is the work; when
they hold few (``broad``: failures spread over many labels and clusters) the failures as a whole are; in
between, both (the patterns, and the failures outside them). The share held by the emerging patterns is
reported beside it: a standing weakness present from the first request may hold most failures without ever
passing the detector's growth test, and is then named by its clusters.

>>> b = measure_breadth(clusters=[1, 1, 1, 2, 2, -1], labels=["a", "a", "a", "b", "c", "d"], pattern_clusters={1})
>>> (b.failures, b.in_patterns, b.clusters, b.labels, round(b.top_share, 2), b.top_clusters)
(6, 3, 2, 4, 0.83, (1, 2))
>>> choose_mode(b)
'concentrated'
>>> choose_mode(measure_breadth(clusters=[1, 2, 3, 4, 5, 6, 7], labels=list("abcdefg"), pattern_clusters=set()))
'both'
>>> choose_mode(measure_breadth(clusters=list(range(10)), labels=list("abcdefghij"), pattern_clusters=set()))
'broad'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

CONCENTRATED_SHARE = 2 / 3
"""When the largest clusters hold at least this share of the failures, surgical work on them is the work."""
BROAD_SHARE = 1 / 3
"""When they hold less than this share, surgery leaves most failures untouched: retrain on them as a whole."""
TOP_CLUSTERS = 3
"""The "few" largest clusters whose share of the failures decides the mode."""


@dataclass(frozen=True, slots=True)
class Breadth:
    """Where one version's recent failures fall: counts, not decayed weights, so any traffic rate reads the same."""

    failures: int
    """Failures measured (the version's remembered recent failures)."""
    in_patterns: int
    """Of which in the clusters of emerging patterns."""
    top_share: float
    """Share of the failures in the ``TOP_CLUSTERS`` largest clusters."""
    clusters: int
    """Distinct clusters the failures fall in (outliers not counted)."""
    labels: int
    """Distinct expected labels among the failures."""
    top_clusters: tuple[int, ...] = ()
    """Ids of the largest clusters, largest first."""
    top_outside_patterns: int = 0
    """Failures in the largest clusters that are not in the clusters of emerging patterns."""

    @property
    def pattern_share(self) -> float:
        return self.in_patterns / self.failures if self.failures else 0.0


def measure_breadth(
    clusters: Sequence[int], labels: Sequence[str | None], pattern_clusters: Collection[int]
) -> Breadth:
    """Breadth of failures given each one's cluster id (``-1``: outlier) and expected label."""
    if len(clusters) != len(labels):
        raise ValueError(f"one label per failure: {len(clusters)} clusters, {len(labels)} labels")
    sizes = Counter(c for c in clusters if c >= 0)
    n = len(clusters)
    largest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CLUSTERS]
    return Breadth(
        failures=n,
        in_patterns=sum(1 for c in clusters if c >= 0 and c in pattern_clusters),
        top_share=sum(count for _, count in largest) / n if n else 0.0,
        clusters=len(sizes),
        labels=len({label for label in labels if label is not None}),
        top_clusters=tuple(c for c, _ in largest),
        top_outside_patterns=sum(count for c, count in largest if c not in pattern_clusters),
    )


def choose_mode(breadth: Breadth) -> str:
    """``"concentrated"``, ``"both"`` or ``"broad"`` from the share of failures the largest clusters hold."""
    share = breadth.top_share
    if share >= CONCENTRATED_SHARE:
        return "concentrated"
    if share < BROAD_SHARE:
        return "broad"
    return "both"

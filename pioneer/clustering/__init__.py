"""Online clustering of failure embeddings into named, time-decayed clusters with a lifecycle."""

from pioneer.clustering.base import Clusterer
from pioneer.clustering.incremental import IncrementalClusterer
from pioneer.clustering.linkage import group_micro_clusters
from pioneer.clustering.naming import ctfidf_keywords
from pioneer.clustering.stats import ClusterStats, Snapshot

__all__ = [
    "ClusterStats",
    "Clusterer",
    "IncrementalClusterer",
    "Snapshot",
    "ctfidf_keywords",
    "group_micro_clusters",
]

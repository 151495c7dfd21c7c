"""The topic catalogue: every topic Pioneer reads or writes, in one place.

Inference logs and labels are keyed by request id and have the same partition count, so the join is
co-partitioned and needs no repartition topic. Labeled traces, error patterns and retrain requests are keyed
by model name, so one worker owns a model's clusterer and trigger. Releases are compacted per model: the
latest release or rollback of a model is its current production version.

>>> CATALOGUE.by_event_type("label").name
'pioneer.labels'
>>> CATALOGUE["pioneer.releases"].cleanup_policy
'compact'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from pioneer.errors import ConfigError

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSpec:
    """One topic: its name, layout and what flows through it."""

    name: str
    partitions: int
    key: str
    event_types: tuple[str, ...]
    cleanup_policy: str = "delete"
    retention_ms: int = 7 * DAY_MS
    description: str = ""

    def configs(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        configs = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete":
            configs["retention.ms"] = str(self.retention_ms)
        return configs


@dataclass(frozen=True, slots=True)
class TopicCatalogue:
    """All topics, addressable by name or by the event type they carry."""

    topics: tuple[TopicSpec, ...]

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self.topics)

    def __getitem__(self, name: str) -> TopicSpec:
        for spec in self.topics:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def internal(self, name: str) -> TopicSpec:
        """An internal (state) topic by its default name, under this catalogue's prefix."""
        suffix = name.removeprefix(DEFAULT_PREFIX)
        for spec in self.topics:
            if not spec.event_types and spec.name.endswith("." + suffix):
                return spec
        raise KeyError(name)

    def by_event_type(self, event_type: str) -> TopicSpec:
        """The topic an event type is published to (each type has exactly one)."""
        for spec in self.topics:
            if event_type in spec.event_types:
                return spec
        raise KeyError(event_type)

    def with_prefix(self, prefix: str) -> TopicCatalogue:
        """The same catalogue under another name prefix (isolates tests and tenants on one cluster)."""
        if not prefix or any(c in prefix for c in " /\\"):
            raise ConfigError(f"topic prefix {prefix!r} must be non-empty and contain no spaces or slashes")
        return TopicCatalogue(
            tuple(replace(spec, name=prefix + spec.name.removeprefix(DEFAULT_PREFIX)) for spec in self.topics)
        )

    def with_partitions(self, partitions: int) -> TopicCatalogue:
        """The same catalogue with every multi-partition topic resized (co-partitioning is kept)."""
        if partitions < 1:
            raise ConfigError(f"partitions must be >= 1, got {partitions}")
        return TopicCatalogue(
            tuple(replace(s, partitions=partitions) if s.partitions > 1 else s for s in self.topics)
        )


DEFAULT_PREFIX = "pioneer."
STREAM_PARTITIONS = 4

CATALOGUE = TopicCatalogue(
    (
        TopicSpec(
            name="pioneer.inference-logs",
            partitions=STREAM_PARTITIONS,
            key="request_id",
            event_types=("inference_log",),
            description="Every inference served, from the serving processes.",
        ),
        TopicSpec(
            name="pioneer.labels",
            partitions=STREAM_PARTITIONS,
            key="request_id",
            event_types=("label",),
            description="Corrections and verdicts from humans, judges and rules; co-partitioned with inference logs.",
        ),
        TopicSpec(
            name="pioneer.labeled-traces",
            partitions=STREAM_PARTITIONS,
            key="model",
            event_types=("labeled_trace",),
            retention_ms=30 * DAY_MS,
            description="Inference logs joined with their labels, with pass/fail outcome.",
        ),
        TopicSpec(
            name="pioneer.error-patterns",
            partitions=STREAM_PARTITIONS,
            key="model",
            event_types=("error_pattern",),
            retention_ms=30 * DAY_MS,
            description="Updates of failure clusters and emerging error patterns.",
        ),
        TopicSpec(
            name="pioneer.retrain-requests",
            partitions=STREAM_PARTITIONS,
            key="model",
            event_types=("retrain_request",),
            retention_ms=30 * DAY_MS,
            description="Requests to retrain a model against named patterns.",
        ),
        TopicSpec(
            name="pioneer.training-progress",
            partitions=1,
            key="request_id",
            event_types=("training_progress",),
            retention_ms=3 * DAY_MS,
            description="Where each retrain job stands.",
        ),
        TopicSpec(
            name="pioneer.releases",
            partitions=1,
            key="model",
            event_types=("model_release", "model_rollback"),
            cleanup_policy="compact",
            description="Verified releases and rollbacks; compacted, so the last event per model is what serves.",
        ),
        TopicSpec(
            name="pioneer.release-rejections",
            partitions=1,
            key="model",
            event_types=("release_rejection",),
            retention_ms=90 * DAY_MS,
            description="Candidates the gate refused, with the gate report.",
        ),
        TopicSpec(
            name="pioneer.join-state",
            partitions=STREAM_PARTITIONS,
            key="request_id",
            event_types=(),
            cleanup_policy="compact",
            description="Internal: the monitor's pending join halves, co-partitioned with logs and labels "
            "(a changelog rebuilt into memory after a restart or rebalance).",
        ),
        TopicSpec(
            name="pioneer.dead-letters",
            partitions=1,
            key="source_topic",
            event_types=("dead_letter",),
            retention_ms=30 * DAY_MS,
            description="Events that failed to decode or validate, with their original bytes and the reason.",
        ),
    )
)
"""The default catalogue."""

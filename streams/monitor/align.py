"""``TopicAligner``: read the logs and the labels of a partition at the same pace in event time.

The join holds an unmatched half for a window of processing time. When the worker reads a backlog (after a
restart, an outage, a rebalance), one consumer fetches both topics as fast as each delivers, so one of them
can run minutes ahead of the other: every log then waits longer than the window for a label the worker has
not read yet, and expires although its label is on the topic (docs/benchmarks.md). Kafka Streams aligns
co-partitioned inputs by record timestamp for the same reason.

While a partition is behind (either topic has records left to read), the join's window does not run: a half
that waited long in processing time may only wait for its twin to be read. Capacity still bounds the buffer.

The rule: when one topic's partition is ahead of its twin by more than ``slack`` seconds of record time and the
twin still has records to read, the one ahead is paused; it resumes once the twin has caught up or has nothing
left to read. A live stream, where both topics are read to their end, is never held back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass(slots=True)
class TopicAligner:
    """Pause decisions for pairs of co-partitioned topics. See the module docstring.

    Parameters
    ----------
    topics
        The two topics read together (same partition count, same key).
    slack
        Seconds of record time one may run ahead of the other before it is paused.
    """

    topics: tuple[str, str]
    slack: float
    _latest: dict[TopicPartition, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.slack <= 0:
            raise ValueError(f"slack must be > 0 seconds, got {self.slack!r}")

    def observe(self, tp: TopicPartition, records: Sequence) -> None:
        """Note the time of the last record read from ``tp`` (its timestamp in ms, as Kafka gives it)."""
        if records:
            self._latest[tp] = records[-1].timestamp / 1000.0

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop what is known of partitions this member no longer owns."""
        for tp in partitions:
            self._latest.pop(tp, None)

    def to_pause(self, owned: Iterable[TopicPartition], lag: Mapping[TopicPartition, int | None]) -> set:
        """The partitions to hold back now (every other owned partition reads on). ``lag``: records left to read
        in each owned partition (None when unknown)."""
        owned = set(owned)
        paused: set[TopicPartition] = set()
        for partition in {tp.partition for tp in owned}:
            first, second = (TopicPartition(topic, partition) for topic in self.topics)
            if first not in owned or second not in owned:
                continue
            ahead = self._ahead(first, second)
            if ahead is not None and _has_more(ahead[1], lag):
                paused.add(ahead[0])
        return paused

    def behind(self, partition: int, lag: Mapping[TopicPartition, int | None]) -> bool:
        """Whether either topic of ``partition`` has records this member has not read yet (a backlog)."""
        return any(_has_more(TopicPartition(topic, partition), lag) for topic in self.topics)

    def _ahead(self, a: TopicPartition, b: TopicPartition) -> tuple[TopicPartition, TopicPartition] | None:
        """(the one ahead, the one behind) when their record times differ by more than the slack."""
        if a not in self._latest or b not in self._latest:
            return None
        gap = self._latest[a] - self._latest[b]
        if gap > self.slack:
            return a, b
        if -gap > self.slack:
            return b, a
        return None



def _has_more(tp: TopicPartition, lag: Mapping[TopicPartition, int | None]) -> bool:
    left = lag.get(tp)
    return left is None or left > 0

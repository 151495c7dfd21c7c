"""The join reads a partition's logs and labels at the same pace in record time: the topic ahead is paused
while its twin still has records, so no log expires waiting for a label its worker has not read yet; and while
either has records left (a backlog), the window does not run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from streams.monitor.align import TopicAligner

LOGS, LABELS = TopicPartition("logs", 0), TopicPartition("labels", 0)


@dataclass
class Record:
    timestamp: int  # ms, as Kafka gives it


def _aligner() -> TopicAligner:
    return TopicAligner(("logs", "labels"), slack=5.0)


def test_the_topic_ahead_waits_while_its_twin_has_records_to_read() -> None:
    aligner = _aligner()
    aligner.observe(LOGS, [Record(60_000)])
    aligner.observe(LABELS, [Record(10_000)])
    assert aligner.to_pause({LOGS, LABELS}, {LOGS: 0, LABELS: 900}) == {LOGS}
    aligner.observe(LABELS, [Record(57_000)])  # caught up within the slack: both read on
    assert aligner.to_pause({LOGS, LABELS}, {LOGS: 0, LABELS: 400}) == set()
    aligner.observe(LABELS, [Record(90_000)])  # now the labels are ahead, and the logs have none left
    assert aligner.to_pause({LOGS, LABELS}, {LOGS: 0, LABELS: 0}) == set()


def test_a_live_stream_read_to_its_end_is_never_held_back_and_its_window_runs() -> None:
    aligner = _aligner()
    aligner.observe(LOGS, [Record(60_000)])
    aligner.observe(LABELS, [Record(10_000)])  # the labels are simply older: nothing more to read
    caught_up = {LOGS: 0, LABELS: 0}
    assert aligner.to_pause({LOGS, LABELS}, caught_up) == set() and not aligner.behind(0, caught_up)
    assert aligner.behind(0, {LOGS: 0, LABELS: 3}) and aligner.behind(0, {LOGS: None, LABELS: 0})


def test_partitions_are_judged_in_pairs_and_forgotten_when_revoked() -> None:
    aligner = _aligner()
    other_logs, other_labels = TopicPartition("logs", 1), TopicPartition("labels", 1)
    aligner.observe(LOGS, [Record(60_000)])
    aligner.observe(LABELS, [Record(10_000)])
    aligner.observe(other_logs, [Record(10_000)])
    aligner.observe(other_labels, [Record(11_000)])
    owned = {LOGS, LABELS, other_logs, other_labels}
    assert aligner.to_pause(owned, {}) == {LOGS}  # an unknown lag: assume more to read
    assert aligner.to_pause({LOGS, other_labels}, {}) == set()  # half a pair: nothing to align
    aligner.forget([LABELS])
    assert aligner.to_pause(owned, {}) == set()
    with pytest.raises(ValueError):
        TopicAligner(("logs", "labels"), slack=0)

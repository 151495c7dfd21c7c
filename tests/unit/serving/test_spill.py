"""The disk spill: FIFO order across segments, the byte bound, durability across reopen, torn writes, one owner."""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

import orjson
import pytest

from pioneer.serving import SpillQueue


def rec(i: int, pad: int = 0) -> bytes:
    return orjson.dumps({"event_id": f"e-{i}", "pad": "x" * pad})


def drain(queue: SpillQueue, per_read: int = 7) -> list[bytes]:
    out: list[bytes] = []
    while True:
        batch = queue.read(per_read)
        if not batch.records:
            return out
        out.extend(batch.records)
        queue.commit(batch)


def test_records_come_back_in_order_across_segments_and_consumed_segments_are_deleted(tmp_path: Path) -> None:
    with SpillQueue(tmp_path, max_bytes=1 << 20, segment_bytes=200) as queue:
        records = [rec(i) for i in range(50)]
        for i in range(0, 50, 5):
            assert queue.append(records[i : i + 5]) == 5
        assert len(list(tmp_path.glob("*.jsonl"))) > 3
        assert queue.pending_records == 50
        assert drain(queue) == records
        assert queue.pending_records == 0 and queue.pending_bytes == 0
        assert len(list(tmp_path.glob("*.jsonl"))) == 1  # only the active segment is left


def test_read_without_commit_returns_the_same_records(tmp_path: Path) -> None:
    with SpillQueue(tmp_path, max_bytes=10_000) as queue:
        queue.append([rec(1), rec(2), rec(3)])
        first = queue.read(2)
        again = queue.read(2)
        assert first.records == again.records == [rec(1), rec(2)]
        queue.commit(first)
        assert queue.read(10).records == [rec(3)]
        with pytest.raises(ValueError):
            queue.commit(first)  # not at the head any more


def test_the_byte_bound_takes_a_prefix_and_counts_the_rest(tmp_path: Path) -> None:
    record = rec(0, pad=50)
    size = len(record) + 1
    with SpillQueue(tmp_path, max_bytes=size * 3 + size // 2) as queue:
        assert queue.append([rec(i, pad=50) for i in range(5)]) == 3
        assert queue.stats.rejected == 2 and queue.stats.appended == 3
        assert queue.pending_bytes == 3 * size
        assert queue.append([rec(9, pad=50)]) == 0
        batch = queue.read(1)
        queue.commit(batch)
        assert queue.append([rec(10, pad=50)]) == 1  # committing frees room
        assert [orjson.loads(r)["event_id"] for r in drain(queue)] == ["e-1", "e-2", "e-10"]


def test_reopening_keeps_exactly_the_uncommitted_records(tmp_path: Path) -> None:
    queue = SpillQueue(tmp_path, max_bytes=1 << 20, segment_bytes=150)
    queue.append([rec(i) for i in range(20)])
    batch = queue.read(6)
    queue.commit(batch)
    queue.read(3)  # read but not committed: must come back after a restart
    queue.close()

    reopened = SpillQueue(tmp_path, max_bytes=1 << 20, segment_bytes=150)
    assert reopened.stats.recovered == 14 and reopened.pending_records == 14
    reopened.append([rec(100)])
    assert drain(reopened) == [rec(i) for i in range(6, 20)] + [rec(100)]
    reopened.close()


def test_segment_numbers_are_not_reused_after_everything_was_consumed(tmp_path: Path) -> None:
    queue = SpillQueue(tmp_path, max_bytes=1 << 20, segment_bytes=40)
    queue.append([rec(i) for i in range(6)])
    drain(queue)
    queue.close()
    queue = SpillQueue(tmp_path, max_bytes=1 << 20, segment_bytes=40)
    assert queue.pending_records == 0
    queue.append([rec(7), rec(8)])
    queue.close()
    queue = SpillQueue(tmp_path, max_bytes=1 << 20, segment_bytes=40)
    assert drain(queue) == [rec(7), rec(8)]
    queue.close()


def test_a_torn_last_line_is_cut_at_open(tmp_path: Path) -> None:
    with SpillQueue(tmp_path, max_bytes=10_000) as queue:
        queue.append([rec(1), rec(2)])
    segment = sorted(tmp_path.glob("*.jsonl"))[-1]
    with open(segment, "ab") as handle:
        handle.write(b'{"event_id": "e-3", "pa')  # a crash in the middle of a write
    with SpillQueue(tmp_path, max_bytes=10_000) as queue:
        assert queue.stats.torn_bytes > 0
        assert queue.append([rec(4)]) == 1
        assert drain(queue) == [rec(1), rec(2), rec(4)]


def test_records_with_newlines_are_refused_and_one_directory_has_one_owner(tmp_path: Path) -> None:
    with SpillQueue(tmp_path, max_bytes=10_000) as queue:
        with pytest.raises(ValueError):
            queue.append([b'{"a":\n1}'])
        with pytest.raises(RuntimeError, match="in use"):
            SpillQueue(tmp_path, max_bytes=10_000)
    SpillQueue(tmp_path, max_bytes=10_000).close()  # free again after close


def test_random_operations_match_a_plain_fifo(tmp_path: Path) -> None:
    rng = random.Random(3)
    model: deque[bytes] = deque()
    bound = 2_000
    queue = SpillQueue(tmp_path, max_bytes=bound, segment_bytes=300)
    counter = 0
    for _ in range(400):
        op = rng.random()
        if op < 0.5:
            batch = [rec(counter + k, pad=rng.randint(0, 40)) for k in range(rng.randint(1, 6))]
            counter += len(batch)
            room = bound - sum(len(r) + 1 for r in model)
            expected = 0
            for r in batch:
                if len(r) + 1 > room:
                    break
                room -= len(r) + 1
                expected += 1
            assert queue.append(batch) == expected
            model.extend(batch[:expected])
        elif op < 0.9:
            batch = queue.read(rng.randint(1, 5))
            assert batch.records == list(model)[: len(batch.records)]
            if model:
                assert batch.records, "records pending but none read"
            if rng.random() < 0.8:
                queue.commit(batch)
                for _ in batch.records:
                    model.popleft()
        else:
            queue.close()
            queue = SpillQueue(tmp_path, max_bytes=bound, segment_bytes=300)
        assert queue.pending_records == len(model)
        assert queue.pending_bytes == sum(len(r) + 1 for r in model)
    assert drain(queue) == list(model)
    queue.close()

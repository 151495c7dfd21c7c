"""A bounded first-in first-out queue of byte records on disk: where inference logs wait while the broker is away.

Why a file queue and not memory: a serving process may run for hours without its broker, and a restart in that
time must not lose what it served. Why bounded: a full disk takes the whole host down with it; past the bound the
queue refuses records and says how many, so the caller can count them (a metric), never drop them silently.

Layout under ``directory``::

    00000000000000000001.jsonl     segments: one record per line (JSON text, no newline inside a record)
    00000000000000000002.jsonl     ... appended to the last one, rolled past ``segment_bytes``
    cursor.json                    {"segment": n, "offset": bytes}: where the unconsumed records start

Durability: every :meth:`append` is written and ``fsync``-ed before it returns, and the cursor is replaced
atomically (write, fsync, rename) on :meth:`commit`. A crash can leave a torn last line, which the next open
cuts off (that record was never acknowledged to the caller), and can replay records committed after the last
cursor write (at-least-once: consumers deduplicate by event id). Nothing is pickled: records are the JSON the
events were encoded to.

>>> import tempfile
>>> queue = SpillQueue(tempfile.mkdtemp(), max_bytes=1000)
>>> queue.append([b'{"n": 1}', b'{"n": 2}'])
2
>>> batch = queue.read(10)
>>> batch.records
[b'{"n": 1}', b'{"n": 2}']
>>> queue.commit(batch)
>>> queue.pending_records
0
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
CURSOR = "cursor.json"
DIGITS = 20


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int
    """Bytes of complete records in the file (what readers may see)."""


@dataclass(frozen=True, slots=True)
class SpillBatch:
    """Records read from the head of the queue, and where the head moves once they are committed."""

    records: list[bytes]
    segment: int
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class SpillStats:
    """What went through the queue since it was opened (counters for metrics)."""

    appended: int = 0
    rejected: int = 0
    """Records refused because the queue was at its byte bound."""
    committed: int = 0
    recovered: int = 0
    """Records found on disk when the queue was opened (left by an earlier process)."""
    torn_bytes: int = 0
    """Bytes of a torn last line cut off at open (a write interrupted by a crash)."""


class SpillQueue:
    """A bounded on-disk FIFO of byte records; see the module docstring.

    Parameters
    ----------
    directory
        Where segments live; created if missing. One queue per directory (no two processes may share it).
    max_bytes
        Most bytes of unconsumed records the queue holds (newlines included). Appends beyond it are refused.
    segment_bytes
        A segment is closed and a new one started once it holds this many bytes; consumed segments are deleted
        whole, so disk use exceeds ``max_bytes`` by at most one segment.
    fsync
        ``fsync`` every append and cursor move (on by default; only benchmarks of the queue itself turn it off).

    Thread-safe: the serving process appends from one task and replays from another, both through threads.
    """

    def __init__(
        self, directory: str | Path, *, max_bytes: int, segment_bytes: int = 4 << 20, fsync: bool = True
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes={max_bytes!r} must be ≥ 1")
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes={segment_bytes!r} must be ≥ 1")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.stats = SpillStats()
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._head = 0  # byte offset of the first unconsumed record in self._segments[0]
        self._pending_bytes = 0
        self._pending_records = 0
        self._next_seq = 1
        self._lock_handle = self._take_directory()
        self._open()

    # ------------------------------------------------------------------------------------------------ state

    @property
    def pending_records(self) -> int:
        """Records appended and not yet committed."""
        return self._pending_records

    @property
    def pending_bytes(self) -> int:
        """Bytes of those records (what ``max_bytes`` bounds)."""
        return self._pending_bytes

    def disk_bytes(self) -> int:
        """Bytes the segment files take on disk now (consumed head of the first segment included)."""
        with self._lock:
            return sum(s.size for s in self._segments)

    # ------------------------------------------------------------------------------------------------ writing

    def append(self, records: Sequence[bytes]) -> int:
        """Append ``records`` in order and make them durable; returns how many were taken.

        The queue takes the longest prefix that fits under ``max_bytes``; the rest is refused (and counted in
        ``stats.rejected``), so the caller knows exactly which records it still holds.
        """
        for record in records:
            if b"\n" in record:
                raise ValueError("a spilled record must not contain a newline (records are JSON lines)")
        with self._lock:
            taken: list[bytes] = []
            room = self.max_bytes - self._pending_bytes
            for record in records:
                size = len(record) + 1
                if size > room:
                    break
                taken.append(record)
                room -= size
            refused = len(records) - len(taken)
            self.stats.rejected += refused
            if not taken:
                return 0
            segment = self._active_segment()
            data = b"".join(r + b"\n" for r in taken)
            with open(segment.path, "ab") as handle:
                handle.write(data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            segment.size += len(data)
            self._pending_bytes += len(data)
            self._pending_records += len(taken)
            self.stats.appended += len(taken)
            return len(taken)

    def _active_segment(self) -> _Segment:
        if self._segments and self._segments[-1].size < self.segment_bytes:
            return self._segments[-1]
        seq = max(self._next_seq, self._segments[-1].seq + 1 if self._segments else 1)
        self._next_seq = seq + 1
        segment = _Segment(seq=seq, path=self.directory / f"{seq:0{DIGITS}d}{SUFFIX}", size=0)
        segment.path.touch()
        self._sync_directory()
        self._segments.append(segment)
        return segment

    # ------------------------------------------------------------------------------------------------ reading

    def read(self, max_records: int) -> SpillBatch:
        """Up to ``max_records`` records from the head, oldest first, without removing them.

        Reading again before :meth:`commit` returns the same records. A batch never spans two segments.
        """
        with self._lock:
            self._drop_consumed_segments()
            if not self._segments:
                return SpillBatch([], 0, 0, 0)
            segment = self._segments[0]
            start = self._head
            if start >= segment.size:
                return SpillBatch([], segment.seq, start, start)
            with open(segment.path, "rb") as handle:
                handle.seek(start)
                data = handle.read(segment.size - start)
        records: list[bytes] = []
        end = start
        position = 0
        while len(records) < max_records and position < len(data):
            newline = data.index(b"\n", position)
            records.append(data[position:newline])
            position = newline + 1
        end = start + position
        return SpillBatch(records, segment.seq, start, end)

    def commit(self, batch: SpillBatch) -> None:
        """Remove ``batch`` (the last :meth:`read`) from the queue, durably."""
        if not batch.records:
            return
        with self._lock:
            if not self._segments or self._segments[0].seq != batch.segment or self._head != batch.start:
                raise ValueError("commit of a batch that is not at the head of the queue (read it again)")
            self._head = batch.end
            self._pending_bytes -= batch.nbytes
            self._pending_records -= len(batch.records)
            self.stats.committed += len(batch.records)
            self._drop_consumed_segments()
            self._write_cursor()

    def _drop_consumed_segments(self) -> None:
        """Delete leading segments that are fully consumed and no longer appended to."""
        while len(self._segments) > 1 and self._head >= self._segments[0].size:
            self._segments.pop(0).path.unlink(missing_ok=True)
            self._head = 0
            self._write_cursor()

    def _write_cursor(self) -> None:
        seq = self._segments[0].seq if self._segments else 0
        scratch = self.directory / f".{CURSOR}.tmp"
        with open(scratch, "wb") as handle:
            handle.write(orjson.dumps({"segment": seq, "offset": self._head}))
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        os.replace(scratch, self.directory / CURSOR)
        self._sync_directory()

    def close(self) -> None:
        """Release the directory (another queue may open it afterwards). Records stay on disk."""
        handle, self._lock_handle = self._lock_handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> SpillQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ opening

    def _take_directory(self):  # noqa: ANN202 - an open file object
        """Lock the directory for this queue alone: two processes appending to one spill would corrupt it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.directory / ".lock", "a+b")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RuntimeError(
                f"spill directory {self.directory} is in use by another process; give each server its own"
            ) from None
        return handle

    def _open(self) -> None:
        """Find the segments and the cursor an earlier process left, and cut a torn last line."""
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(p for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit())
        self._segments = [_Segment(seq=int(p.stem), path=p, size=p.stat().st_size) for p in paths]
        if self._segments:
            self._cut_torn_tail(self._segments[-1])
        cursor_seq, offset = self._read_cursor()
        # Never reuse a number at or below the cursor's: a reopened queue would take the new segment for consumed.
        self._next_seq = max([cursor_seq + 1] + [s.seq + 1 for s in self._segments])
        while self._segments and self._segments[0].seq < cursor_seq:
            self._segments.pop(0).path.unlink(missing_ok=True)  # consumed before a crash, not yet deleted
        if self._segments and self._segments[0].seq == cursor_seq:
            self._head = min(offset, self._segments[0].size)
        for index, segment in enumerate(self._segments):
            with open(segment.path, "rb") as handle:
                if index == 0:
                    handle.seek(self._head)
                data = handle.read()
            self._pending_records += data.count(b"\n")
            self._pending_bytes += len(data)
        self.stats.recovered = self._pending_records
        if self._pending_records:
            log.info(
                "spilled records found from an earlier run",
                extra={"directory": str(self.directory), "records": self._pending_records, "bytes": self._pending_bytes},
            )

    def _read_cursor(self) -> tuple[int, int]:
        path = self.directory / CURSOR
        try:
            cursor = orjson.loads(path.read_bytes())
            return int(cursor["segment"]), int(cursor["offset"])
        except FileNotFoundError:
            return 0, 0
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # The cursor is replaced atomically, so this is damage from outside; replaying from the start of the
            # oldest segment repeats records (deduplicated downstream) rather than losing any.
            log.error("spill cursor unreadable; replaying every segment", extra={"path": str(path)})
            return 0, 0

    def _cut_torn_tail(self, segment: _Segment) -> None:
        with open(segment.path, "rb+") as handle:
            data = handle.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
                self.stats.torn_bytes = len(data) - keep
                log.warning("cut a torn record off the spill", extra={"path": str(segment.path), "bytes": len(data) - keep})
        segment.size = keep

    def _sync_directory(self) -> None:
        if not self.fsync:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

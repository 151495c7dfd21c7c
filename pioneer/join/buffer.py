"""The join of inference logs and labels by request id, as a pure state machine (no Kafka).

A label may arrive before or after its log. Each unmatched half waits in the buffer up to ``window``
seconds; then it expires and is counted: a log nobody labelled is ``expired_unlabeled`` (normal: not all
traffic is labelled), a label whose log never came is ``expired_orphan_labels``. A log stays after its first
join so a later label for the same request (a human after a judge, say) joins too. Events already seen
(same event id) are counted as duplicates and produce nothing.

People outrank judges: once a human label is known for a request, a judge's (or a rule's) label for it joins
nothing, in either arrival order (counted as ``overridden``). A judge label joined before the human one
arrived cannot be taken back; the human trace that follows supersedes it (the trace store ranks human labels
first).

The stream layer keeps one buffer per partition, persists :meth:`JoinBuffer.take_changes` to a changelog
after each batch, and rebuilds the buffer from that changelog after a restart or rebalance.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import orjson

from pioneer.events import InferenceLog, Label, LabeledTrace, from_dict
from pioneer.join.trace import labeled_trace

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingRequest:
    """What the buffer holds for one request id.

    The events' encoded bytes are kept beside them, so persisting an entry embeds them as they are instead
    of serialising the events again (the changelog write is on the hot path).
    """

    first_seen: float
    log: InferenceLog | None = None
    log_raw: bytes | None = None
    labels: list[tuple[Label, bytes | None]] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    human: bool = False
    """A human label is known for this request: other sources' labels no longer join."""

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "first_seen": self.first_seen,
                "log": _embed(self.log, self.log_raw),
                "labels": [_embed(label, raw) for label, raw in self.labels],
                "joined": self.joined,
                "human": self.human,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> PendingRequest:
        data = orjson.loads(raw)
        log = data["log"]
        return cls(
            first_seen=float(data["first_seen"]),  # a number, or the expiry order cannot be rebuilt
            log=None if log is None else from_dict(InferenceLog, log),
            log_raw=None if log is None else orjson.dumps(log),
            labels=[(from_dict(Label, label), orjson.dumps(label)) for label in data["labels"]],
            joined=list(data["joined"]),
            human=bool(data.get("human", False)),  # absent in state written before the rule
        )


def _embed(event: object, raw: bytes | None) -> object:
    return orjson.Fragment(raw) if raw is not None else event


@dataclass(slots=True)
class JoinStats:
    """Counters of one buffer; every input event lands in exactly one of logs/labels/duplicates."""

    logs: int = 0
    labels: int = 0
    duplicates: int = 0
    joined: int = 0
    expired_unlabeled: int = 0
    expired_orphan_labels: int = 0
    corrupt_state: int = 0
    """Changelog records that could not be read back (skipped at restore, logged)."""
    overridden: int = 0
    """Judge or rule labels dropped because a human labelled the same request (they are also in ``labels``)."""

    def add(self, other: JoinStats) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class JoinBuffer:
    """Joins logs and labels of one partition.

    Parameters
    ----------
    window
        Seconds an unmatched half waits for the other (and a joined log waits for further labels).
    max_pending
        Requests held at most; beyond it the oldest expire early (and are counted as expired).
    stats
        Counters to add to (shared by the buffers of one worker); a new one by default.

    >>> from pioneer.events import Input, ModelRef, Output
    >>> buffer = JoinBuffer(window=60)
    >>> label = Label(event_id="l1", timestamp=5, request_id="r1", source="human", expected=Output(label="b"))
    >>> buffer.add_label(label, now=10)
    []
    >>> log = InferenceLog(event_id="e1", timestamp=1, request_id="r1", model=ModelRef(name="m", version="v"),
    ...     task="classification", input=Input(text="hi"), prediction=Output(label="a"), latency_ms=2)
    >>> [trace.outcome for trace in buffer.add_log(log, now=11)]
    ['fail']
    >>> buffer.add_log(log, now=12), buffer.stats.duplicates
    ([], 1)
    """

    def __init__(self, *, window: float = 900.0, max_pending: int = 500_000, stats: JoinStats | None = None) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.window = window
        self.max_pending = max_pending
        # Several buffers (one per partition) may share one stats object.
        self.stats = stats if stats is not None else JoinStats()
        self._pending: dict[str, PendingRequest] = {}
        self._arrivals: deque[tuple[float, str]] = deque()
        self._changed: set[str] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def _entry(self, request_id: str, now: float) -> PendingRequest:
        entry = self._pending.get(request_id)
        if entry is None:
            entry = self._pending[request_id] = PendingRequest(first_seen=now)
            self._arrivals.append((now, request_id))
        return entry

    def add_log(self, log: InferenceLog, now: float, raw: bytes | None = None) -> list[LabeledTrace]:
        """Add a log (``raw``: its encoded bytes, if at hand); returns the traces it completes."""
        entry = self._entry(log.request_id, now)
        if entry.log is not None:
            self.stats.duplicates += 1
            return []
        self.stats.logs += 1
        entry.log, entry.log_raw = log, raw
        traces = [labeled_trace(log, label, now) for label, _ in entry.labels]
        entry.joined.extend(label.event_id for label, _ in entry.labels)
        entry.labels.clear()
        self.stats.joined += len(traces)
        self._changed.add(log.request_id)
        return traces

    def add_label(self, label: Label, now: float, raw: bytes | None = None) -> list[LabeledTrace]:
        """Add a label (``raw``: its encoded bytes, if at hand); returns its trace if the log is here."""
        entry = self._entry(label.request_id, now)
        if label.event_id in entry.joined or any(w.event_id == label.event_id for w, _ in entry.labels):
            self.stats.duplicates += 1
            return []
        self.stats.labels += 1
        self._changed.add(label.request_id)
        if label.source == "human":
            entry.human = True
            # Waiting judge labels would join when the log comes: the human one replaces them now.
            overridden = [(w, raw) for w, raw in entry.labels if w.source != "human"]
            entry.labels = [(w, raw) for w, raw in entry.labels if w.source == "human"]
            self.stats.overridden += len(overridden)
        elif entry.human:
            self.stats.overridden += 1
            entry.joined.append(label.event_id)  # remembered, so a replay counts as a duplicate
            return []
        if entry.log is None:
            entry.labels.append((label, raw))
            return []
        entry.joined.append(label.event_id)
        self.stats.joined += 1
        return [labeled_trace(entry.log, label, now)]

    def expire(self, now: float) -> JoinStats:
        """Drop what waited longer than the window (or beyond capacity); returns what expired."""
        expired = JoinStats()
        deadline = now - self.window
        arrivals = self._arrivals
        while arrivals and (arrivals[0][0] <= deadline or len(self._pending) > self.max_pending):
            _, request_id = arrivals.popleft()
            entry = self._pending.pop(request_id, None)
            if entry is None:
                continue
            if entry.log is not None and not entry.joined:
                expired.expired_unlabeled += 1
            expired.expired_orphan_labels += len(entry.labels)
            self._changed.add(request_id)
        self.stats.expired_unlabeled += expired.expired_unlabeled
        self.stats.expired_orphan_labels += expired.expired_orphan_labels
        return expired

    def take_changes(self) -> dict[str, bytes | None]:
        """Serialised state of every request changed since the last call (None: deleted)."""
        changes = {key: (entry.to_bytes() if (entry := self._pending.get(key)) else None) for key in self._changed}
        self._changed.clear()
        return changes

    def restore(self, key: str, raw: bytes | None) -> None:
        """Load one request's state from the changelog (None deletes it). Call in changelog order."""
        if raw is None:
            self._pending.pop(key, None)
            return
        try:
            self._pending[key] = PendingRequest.from_bytes(raw)
        except Exception as exc:  # noqa: BLE001 - one damaged record must not stop a worker from starting
            self.stats.corrupt_state += 1
            log.error("unreadable join state skipped", extra={"key": key[:200], "error": f"{type(exc).__name__}: {exc}"[:500]})

    def finish_restore(self, now: float | None = None) -> None:
        """Rebuild the expiry order after :meth:`restore` calls. With ``now``, the time no worker held the state
        does not count as waiting: the restored entries keep their order and spacing, the newest seen ``now``
        (else a successor that starts minutes after a crash would expire every half still waiting)."""
        if now is not None and self._pending:
            shift = now - max(entry.first_seen for entry in self._pending.values())
            if shift > 0:
                for entry in self._pending.values():
                    entry.first_seen += shift
        self._arrivals = deque(sorted((entry.first_seen, key) for key, entry in self._pending.items()))

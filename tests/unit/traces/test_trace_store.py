"""TraceStore: idempotent inserts, every query filter, pattern membership, WAL durability across connections."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pioneer.events import EventCodec, Output, Span
from pioneer.traces import TraceStore, labeled_trace, trace_to_example
from pioneer.training import Example


def trace(i: int, label: str, predicted: str, *, version: str = "v1", at: float | None = None, model: str = "m"):
    example = Example(id=f"r{i}", text=f"text {i}", label=label)
    return labeled_trace(
        example,
        Output(label=predicted),
        model=model,
        version=version,
        task="classification",
        at=float(i if at is None else at),
    )


@pytest.fixture
def store(tmp_path: Path) -> TraceStore:
    with TraceStore(tmp_path / "traces.sqlite") as s:
        yield s


def test_simulated_traces_are_valid_events() -> None:
    codec = EventCodec()
    codec.encode(trace(1, "a", "b"))
    spans = (Span(start=0, end=4, label="PER", text="text"),)
    ner = labeled_trace(
        Example(id="n", text="text here", spans=spans),
        Output(spans=[]),
        model="m",
        version="v",
        task="entity_extraction",
        at=1.0,
    )
    assert ner.failure.missed_spans[0].label == "PER"
    codec.encode(ner)


def test_insert_is_idempotent_by_event_id(store: TraceStore) -> None:
    batch = [trace(i, "a", "a") for i in range(5)]
    assert store.add(batch) == 5
    assert store.add(batch + [trace(5, "a", "b")]) == 1
    assert store.count(model="m") == 6


def test_query_filters(store: TraceStore) -> None:
    store.add(
        [
            trace(1, "a", "a"),
            trace(2, "a", "b"),
            trace(3, "b", "b", version="v2"),
            trace(4, "b", "a", version="v2"),
            trace(5, "a", "a", model="other"),
        ]
    )
    ids = lambda **kw: [t.request_id for t in store.query(**kw)]  # noqa: E731
    assert ids(model="m") == ["r1", "r2", "r3", "r4"]
    assert ids(model="m", version="v2") == ["r3", "r4"]
    assert ids(model="m", outcome="fail") == ["r2", "r4"]
    assert ids(model="m", label="a") == ["r1", "r2"]
    assert ids(model="m", predicted_label="a") == ["r1", "r4"]
    assert ids(model="m", since=2.0, until=4.0) == ["r2", "r3"]
    assert ids(model="m", limit=2) == ["r3", "r4"]  # the most recent, oldest first
    assert store.models() == ["m", "other"]


def test_a_relabelled_request_appears_once_with_its_latest_label(store: TraceStore) -> None:
    first = trace(1, "a", "b", at=1.0)
    corrected = labeled_trace(
        Example(id="r1", text="text 1", label="b"),
        Output(label="b"),
        model="m",
        version="v1",
        task="classification",
        at=2.0,
    )
    corrected.event_id = "trace-r1-relabel"
    store.add([first, corrected])
    latest = store.query(model="m")
    assert len(latest) == 1 and latest[0].outcome == "pass"
    assert len(store.query(model="m", latest_per_request=False)) == 2


def test_patterns_attach_before_or_after_the_trace_arrives(store: TraceStore) -> None:
    assert store.attach_pattern("p-1", ["r1", "r3"]) == 2
    store.add([trace(1, "a", "b"), trace(2, "a", "b")])
    store.attach_pattern("p-2", ["r2", "r1"])
    assert store.attach_pattern("p-2", ["r2"]) == 0
    store.add([trace(3, "a", "a")])
    assert [t.request_id for t in store.query(pattern_id="p-1")] == ["r1", "r3"]
    assert [t.request_id for t in store.query(pattern_id="p-2", outcome="fail")] == ["r1", "r2"]
    assert store.patterns_of("r1") == ["p-1", "p-2"]


def test_round_trip_preserves_the_event(store: TraceStore) -> None:
    original = trace(7, "a", "b")
    store.add([original])
    assert store.query(model="m")[0] == original


def test_durable_and_readable_while_another_connection_writes(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    writer = TraceStore(path)
    reader = TraceStore(path)
    done = threading.Event()

    def write() -> None:
        for i in range(200):
            writer.add([trace(i, "a", "a")])
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    while not done.is_set():
        reader.count(model="m")  # never blocks into an error under WAL
    thread.join()
    writer.close()
    assert reader.count(model="m") == 200
    reader.close()
    assert TraceStore(path).count(model="m") == 200


def test_what_a_trace_teaches() -> None:
    fail = trace(1, "a", "b")
    assert trace_to_example(fail) == Example(id="r1", text="text 1", label="a")
    passed = trace(2, "a", "a")
    passed.expected = None
    assert trace_to_example(passed).label == "a"  # a pass without a correction teaches its prediction
    bare = trace(3, "a", "b")
    bare.expected = None
    assert trace_to_example(bare) is None  # a bare "fail" teaches nothing

"""Judge labels never override human ones, whatever order the log and the two labels arrive in: the join
emits no judge trace once a human label is known, and the trace store reads the human trace first."""

from __future__ import annotations

import itertools

import pytest

from pioneer.events import InferenceLog, Input, Label, LabeledTrace, ModelRef, Output
from pioneer.join import JoinBuffer
from pioneer.join.buffer import PendingRequest
from pioneer.traces.store import TraceStore

MODEL = ModelRef(name="m", version="v1")
LOG = InferenceLog(event_id="e1", timestamp=1.0, request_id="r1", model=MODEL, task="generation",
                   input=Input(text="What is 2 + 2?"), prediction=Output(text="5"), latency_ms=1.0)
HUMAN = Label(event_id="h1", timestamp=2.0, request_id="r1", source="human", verdict="fail", reason="2 + 2 = 4")
JUDGE = Label(event_id="j1", timestamp=3.0, request_id="r1", source="judge", verdict="pass",
              judge={"name": "lenient", "score": 0.9})


def _feed(order: tuple[str, ...]) -> tuple[list[LabeledTrace], JoinBuffer]:
    buffer = JoinBuffer(window=60)
    traces: list[LabeledTrace] = []
    for now, what in enumerate(order):
        if what == "log":
            traces += buffer.add_log(LOG, now=float(now))
        else:
            traces += buffer.add_label(HUMAN if what == "human" else JUDGE, now=float(now))
    return traces, buffer


@pytest.mark.parametrize("order", list(itertools.permutations(["log", "human", "judge"])), ids="-".join)
def test_the_human_label_wins_in_every_arrival_order(order: tuple[str, ...]) -> None:
    traces, buffer = _feed(order)
    sources = [t.source for t in traces]
    assert sources.count("human") == 1 and traces[-1].source == "human" and traces[-1].outcome == "fail"
    # A judge trace exists only when the judge joined before anyone knew of the human label.
    judge_first = order.index("judge") < order.index("human") and order.index("log") < order.index("human")
    assert sources.count("judge") == (1 if judge_first else 0)
    assert buffer.stats.overridden == (0 if judge_first else 1)
    store = TraceStore(":memory:")
    store.add(traces)
    (kept,) = store.query(model="m")
    assert kept.source == "human" and kept.outcome == "fail"


def test_a_replayed_overridden_judge_label_is_a_duplicate() -> None:
    _, buffer = _feed(("log", "human", "judge"))
    assert buffer.add_label(JUDGE, now=9.0) == [] and buffer.stats.duplicates == 1 and buffer.stats.overridden == 1


def test_the_rule_survives_a_restore_from_the_changelog() -> None:
    _, buffer = _feed(("human",))
    changes = buffer.take_changes()
    restored = JoinBuffer(window=60)
    for key, raw in changes.items():
        restored.restore(key, raw)
    restored.finish_restore()
    assert restored.add_label(JUDGE, now=5.0) == []
    assert [t.source for t in restored.add_log(LOG, now=6.0)] == ["human"]


def test_state_written_before_the_rule_still_reads() -> None:
    entry = PendingRequest.from_bytes(b'{"first_seen": 1.0, "log": null, "labels": [], "joined": []}')
    assert entry.human is False


def test_the_store_prefers_a_human_label_even_when_older() -> None:
    # The judge labelled later than the human (labeled_at 3 > 2): the newest-first rule alone would keep it.
    buffer = JoinBuffer(window=60)
    traces = buffer.add_log(LOG, now=0.0) + buffer.add_label(JUDGE, now=1.0) + buffer.add_label(HUMAN, now=2.0)
    store = TraceStore(":memory:")
    store.add(traces)
    assert [t.source for t in store.query(model="m", latest_per_request=False)] == ["human", "judge"]
    assert [t.source for t in store.query(model="m")] == ["human"]

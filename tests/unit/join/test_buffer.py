from __future__ import annotations

import pytest

from pioneer.events import InferenceLog, Input, Label, ModelRef, Output, Span
from pioneer.join import JoinBuffer, assess, trace_id

MODEL = ModelRef(name="m", version="v1")


def log(i: int, task: str = "classification", prediction: Output | None = None) -> InferenceLog:
    return InferenceLog(
        event_id=f"e{i}", timestamp=float(i), request_id=f"r{i}", model=MODEL, task=task,
        input=Input(text="Book a table for Anna"), prediction=prediction or Output(label="a"), latency_ms=1.0,
    )


def label(i: int, expected: Output | None = None, verdict: str | None = None, event_id: str | None = None) -> Label:
    return Label(
        event_id=event_id or f"l{i}", timestamp=float(i), request_id=f"r{i}", source="human",
        expected=expected, verdict=verdict,
    )


def test_label_before_or_after_log_joins_once() -> None:
    buffer = JoinBuffer(window=60)
    assert buffer.add_label(label(1, Output(label="a")), now=0) == []
    (first,) = buffer.add_log(log(1), now=1)
    assert first.outcome == "pass" and first.failure is None
    assert buffer.add_log(log(2), now=2) == []  # log 2 has no label yet
    (late,) = buffer.add_label(label(2, Output(label="b")), now=3)
    assert late.outcome == "fail" and late.failure.kind == "misclassification"
    assert late.model == MODEL and late.served_at == 2.0 and late.labeled_at == 2.0
    assert buffer.stats.joined == 2 and buffer.stats.logs == 2 and buffer.stats.labels == 2


def test_duplicates_are_counted_and_produce_nothing() -> None:
    buffer = JoinBuffer(window=60)
    buffer.add_log(log(1), now=0)
    assert len(buffer.add_label(label(1, Output(label="a")), now=0)) == 1
    assert buffer.add_label(label(1, Output(label="a")), now=1) == []
    assert buffer.add_log(log(1), now=1) == []
    assert buffer.stats.duplicates == 2
    # a second, different label for the same request (a human after a judge) joins too
    assert len(buffer.add_label(label(1, Output(label="b"), event_id="l1-human"), now=2)) == 1


def test_unmatched_halves_expire_and_are_counted() -> None:
    buffer = JoinBuffer(window=10)
    buffer.add_log(log(1), now=0)                      # never labelled
    buffer.add_label(label(2, verdict="fail"), now=1)  # its log never comes
    buffer.add_log(log(3), now=2)
    buffer.add_label(label(3, verdict="pass"), now=3)  # joined: expires silently (not a loss)
    assert buffer.expire(now=5).expired_unlabeled == 0
    expired = buffer.expire(now=20)
    assert (expired.expired_unlabeled, expired.expired_orphan_labels) == (1, 1)
    assert len(buffer) == 0
    # a label arriving after its log expired waits alone, and expires as an orphan
    buffer.add_label(label(1, verdict="fail"), now=21)
    assert buffer.expire(now=40).expired_orphan_labels == 1


def test_capacity_expires_the_oldest_first() -> None:
    buffer = JoinBuffer(window=1000, max_pending=2)
    for i in range(4):
        buffer.add_log(log(i), now=i)
    assert buffer.expire(now=5).expired_unlabeled == 2
    assert len(buffer) == 2


def test_state_round_trips_through_the_changelog() -> None:
    buffer = JoinBuffer(window=60)
    buffer.add_label(label(1, Output(label="b")), now=0)
    buffer.add_log(log(2), now=1)
    buffer.add_log(log(3), now=2)
    buffer.add_label(label(3, Output(label="a")), now=3)
    changes = buffer.take_changes()
    assert set(changes) == {"r1", "r2", "r3"} and buffer.take_changes() == {}
    restored = JoinBuffer(window=60)
    for key, raw in changes.items():
        restored.restore(key, raw)
    restored.finish_restore()
    (trace,) = restored.add_log(log(1), now=4)  # the waiting label survived
    assert trace.outcome == "fail"
    assert restored.add_log(log(2), now=4) == [] and restored.stats.duplicates == 1  # the log survived
    assert restored.add_label(label(3, Output(label="a")), now=4) == []  # so did the joined label id
    restored.restore("r1", None)
    assert "r1" not in restored._pending


def test_a_successors_restored_state_does_not_count_the_downtime_as_waiting() -> None:
    buffer = JoinBuffer(window=60)
    buffer.add_log(log(1), now=100)
    buffer.add_log(log(2), now=130)
    changes = buffer.take_changes()
    restored = JoinBuffer(window=60)
    for key, raw in changes.items():
        restored.restore(key, raw)
    restored.finish_restore(now=1_000)  # started 870 s after the last change: both would have expired
    assert restored.expire(now=1_000).expired_unlabeled == 0
    (trace,) = restored.add_label(label(2, Output(label="a")), now=1_010)  # its label still joins
    assert trace.request_id == "r2"
    assert restored.expire(now=1_000 - 30 + 60).expired_unlabeled == 1  # r1 kept its 30 s head start
    assert restored.expire(now=1_000 + 60).expired_unlabeled == 0  # r2 joined: nothing more to count


def test_entity_failures_keep_missed_and_invented_spans() -> None:
    predicted = Output(spans=[Span(start=0, end=4, label="VERB"), Span(start=17, end=21, label="PER")])
    expected = Output(spans=[Span(start=17, end=21, label="PER"), Span(start=7, end=12, label="ITEM")])
    failure = assess(log(1, "entity_extraction", predicted), label(1, expected))
    assert failure.kind == "span_mismatch"
    assert [(s.label, s.text) for s in failure.missed_spans] == [("ITEM", "table")]
    assert [(s.label, s.text) for s in failure.spurious_spans] == [("VERB", "Book")]
    assert assess(log(1, "entity_extraction", expected), label(1, expected)) is None


@pytest.mark.parametrize(
    ("verdict", "expected_text", "generated", "fails"),
    [("fail", None, "7", True), ("pass", "8", "7", False), (None, "Seven ", "seven", False), (None, "8", "7", True)],
)
def test_generation_fails_on_a_fail_verdict_or_a_different_text(verdict, expected_text, generated, fails) -> None:
    served = log(1, "generation", Output(text=generated))
    expected = Output(text=expected_text) if expected_text else None
    assert (assess(served, label(1, expected, verdict)) is not None) == fails


def test_trace_ids_are_deterministic() -> None:
    assert trace_id("e1", "l1") == trace_id("e1", "l1") != trace_id("e1", "l2")


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        JoinBuffer(window=0)
    with pytest.raises(ValueError, match="max_pending"):
        JoinBuffer(max_pending=0)

"""Small pure pieces: which release events move the served version, what chat shapes are served, the events a
server emits validate against their schemas, and sizes on the command line."""

from __future__ import annotations

import click
import pytest

from pioneer.cli.serve import parse_size
from pioneer.events import (
    AliasMove,
    EventCodec,
    GateReport,
    Input,
    ModelRef,
    ModelRelease,
    ModelRollback,
    Output,
    Span,
)
from pioneer.serving import (
    ServedModel,
    feedback_label,
    inference_log,
    new_id,
    release_target,
)
from streams.serving.chat import ChatError, ChatMessage, conversation

V1, V2 = "sha256-111111111111", "sha256-222222222222"


def _release(model: str, alias: str, version: str) -> ModelRelease:
    return ModelRelease(
        event_id="rel-1", timestamp=1.0, model=ModelRef(name=model, version=version), parent_version=V1,
        alias=AliasMove(name=alias, from_version=V1, to_version=version), metrics={},
        gate_report=GateReport(passed=True, baseline_version=V1, checks=[], notes=[]),
    )


def test_only_releases_and_rollbacks_of_our_model_and_alias_count() -> None:
    assert release_target(_release("intents", "production", V2), model="intents", alias="production") == (V2, "release")
    assert release_target(_release("intents", "candidate", V2), model="intents", alias="production") is None
    assert release_target(_release("other", "production", V2), model="intents", alias="production") is None
    rollback = ModelRollback(event_id="rb", timestamp=2.0, model=ModelRef(name="intents", version=V1),
                             alias=AliasMove(name="production", from_version=V2, to_version=V1), reason="regression")
    assert release_target(rollback, model="intents", alias="production") == (V1, "rollback")


def _messages(*pairs: tuple[str, object]) -> list[ChatMessage]:
    return [ChatMessage(role=role, content=content) for role, content in pairs]


def test_chat_serves_system_then_one_user_turn() -> None:
    assert conversation(_messages(("user", "What is 2 plus 2?"))) == (None, "What is 2 plus 2?")
    assert conversation(_messages(("system", "Be brief."), ("developer", "No lists."), ("user", "hi"))) == (
        "Be brief.\n\nNo lists.", "hi")
    parts = [{"type": "text", "text": "What is "}, {"type": "text", "text": "3 plus 4?"}]
    assert conversation(_messages(("user", parts)))[1] == "What is 3 plus 4?"
    with pytest.raises(ChatError, match="single-turn"):
        conversation(_messages(("user", "a"), ("assistant", "b"), ("user", "c")))
    with pytest.raises(ChatError, match="not supported"):
        conversation(_messages(("user", [{"type": "image_url", "image_url": {"url": "x"}}])))


def test_served_events_satisfy_their_schemas() -> None:
    codec = EventCodec()
    served = ServedModel(name="ner", version=V1, task="entity_extraction", adapter=None)  # type: ignore[arg-type]
    log = inference_log(request_id="r-1", served=served, item=Input(text="Anna in Oslo"),
                        prediction=Output(spans=[Span(start=0, end=4, label="PER")]), latency_ms=3.5)
    assert codec.decode(codec.encode(log)).model.version == V1
    label = feedback_label(request_id="r-1", model="ner", source="human", verdict="fail", reason="missed Oslo")
    assert codec.decode(codec.encode(label)).verdict == "fail"
    with pytest.raises(ValueError):
        feedback_label(request_id="r-1", model="ner", source="human")
    with pytest.raises(ValueError):
        feedback_label(request_id="x" * 201, model="ner", source="human", verdict="pass")


def test_ids_are_fresh_uuid4s() -> None:
    import uuid

    ids = [new_id() for _ in range(1000)]  # more than one block of the OS's random bytes
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.hex, parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)


def test_sizes_parse_with_units() -> None:
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("250 MB") == 250_000_000
    assert parse_size("4096") == 4096
    with pytest.raises(click.BadParameter):
        parse_size("lots")


def test_kafka_client_log_floods_are_throttled() -> None:
    import logging

    from streams.serving.server import RepeatFilter

    repeat = RepeatFilter("aiokafka", interval=60)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("node 1",), None)

    passed = [repeat.filter(record("aiokafka", "Unable connect to %s")) for _ in range(50)]
    assert passed.count(True) == 1 and repeat.suppressed == 49
    assert repeat.filter(record("aiokafka", "Unable to update metadata from %s"))  # another message passes once
    assert all(repeat.filter(record("pioneer.serving", "swapped %s")) for _ in range(3))  # others untouched

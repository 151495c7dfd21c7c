"""The event backbone on real brokers: every topic carries its events, and bad records become dead letters."""

from __future__ import annotations

import asyncio
import base64
import copy

import orjson
import pytest

from pioneer.events import DeadLetter, EventCodec, InferenceLog, schema_dir
from streams.io import EventPublisher, EventReader
from streams.kafka import KafkaSettings
from tests.integration.helpers import read_all

pytestmark = pytest.mark.timeout(120)


def _examples() -> list[bytes]:
    return [p.read_bytes() for p in sorted(schema_dir().glob("*/v1.example*.json"))]


def _event_topics(settings: KafkaSettings) -> list:
    """The topics that carry events (internal state topics carry the workers' own records)."""
    return [spec for spec in settings.catalogue if spec.event_types]


def test_every_topic_carries_its_events(any_settings: KafkaSettings) -> None:
    codec = EventCodec()
    events = [codec.decode(raw) for raw in _examples()]

    async def scenario() -> dict[str, list]:
        async with EventPublisher(any_settings) as publisher:
            await publisher.publish(events)
        received: dict[str, list] = {}
        for spec in _event_topics(any_settings):
            expected = [e for e in events if e.event_type in spec.event_types]
            records = await read_all(any_settings, spec.name, len(expected))
            received[spec.name] = [(r.key, codec.decode(r.value)) for r in records]
        return received

    received = asyncio.run(scenario())
    for spec in _event_topics(any_settings):
        expected = [e for e in events if e.event_type in spec.event_types]
        assert expected, f"no example travels through {spec.name}"
        got = received[spec.name]
        assert sorted(e.event_id for _, e in got) == sorted(e.event_id for e in expected)
        by_id = {e.event_id: e for e in expected}
        for key, event in got:
            assert event == by_id[event.event_id]
            assert key is not None and len(key) > 0


def test_bad_records_become_dead_letters_and_good_ones_pass(any_settings: KafkaSettings) -> None:
    topic = any_settings.topic("inference_log")
    good = orjson.loads((schema_dir() / "inference_log" / "v1.example.json").read_bytes())
    valid = [orjson.dumps(good | {"event_id": f"ok-{i}", "request_id": f"r-{i}"}) for i in range(6)]
    malformed = b'{"event_type": "inference_log", "schema_version": 1, "event_id": '
    invalid = copy.deepcopy(good) | {"event_id": "bad-schema", "latency_ms": -1}
    wrong_type = (schema_dir() / "label" / "v1.example.json").read_bytes()
    sent = [valid[0], valid[1], malformed, valid[2], orjson.dumps(invalid), valid[3], wrong_type, valid[4], valid[5]]

    async def scenario():
        async with EventPublisher(any_settings) as publisher:
            for i, raw in enumerate(sent):
                await publisher.send_raw(topic, raw, f"k{i % 3}".encode())
            await publisher.flush()
            reader = EventReader(any_settings, [topic], group_id="dl-test", publisher=publisher, name="test-reader")
            passed: list[InferenceLog] = []
            async with reader:
                async for batch in reader.batches(timeout_ms=200):
                    passed.extend(d.event for d in batch)
                    await reader.commit()
                    consumed = reader.metrics.value("pioneer_events_in_total", topic=topic)
                    if consumed >= len(sent):
                        break
            letters = await read_all(any_settings, any_settings.topic("dead_letter"), 3)
            return passed, letters, reader.metrics

    passed, letter_records, metrics = asyncio.run(scenario())
    codec = EventCodec()
    letters = [codec.decode(r.value, expected=DeadLetter) for r in letter_records]
    assert sorted(e.event_id for e in passed) == [f"ok-{i}" for i in range(6)]
    assert len(letters) == 3
    # counts in = counts out + dead letters
    assert len(sent) == len(passed) + len(letters)
    by_error = {letter.error: letter for letter in letters}
    assert set(by_error) == {"decode", "schema", "unknown_type"}
    assert base64.b64decode(by_error["decode"].payload_b64) == malformed
    assert "latency_ms" in by_error["schema"].reason
    assert "label events do not belong" in by_error["unknown_type"].reason
    for letter in letters:
        assert letter.source.topic == topic and letter.source.consumer == "test-reader"
    positions = {(letter.source.partition, letter.source.offset) for letter in letters}
    assert len(positions) == 3
    total_dead = sum(metrics.value("pioneer_dead_letters_total", topic=topic, error=e) for e in ("decode", "schema", "unknown_type"))
    assert total_dead == 3

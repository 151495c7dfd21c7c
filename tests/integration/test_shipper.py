"""The serving shipper against real brokers: one event it cannot encode is dropped and counted while shipping
goes on; a background task that dies is logged and restarted; and spilled events wait for their topics to
exist (with their catalogued partitions) instead of being written to topics a broker auto-created."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import orjson
import pytest

from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.serving import SpillQueue
from streams.admin import ensure_topics, list_topics
from streams.brokers import TansuBroker, free_port
from streams.kafka import KafkaSettings
from streams.serving import EventShipper, ServingMetrics
from tests.conftest import isolated_settings
from tests.integration.helpers import ids, read_all

pytestmark = [pytest.mark.tansu, pytest.mark.timeout(120)]


def _log(i: int, metadata: dict | None = None) -> InferenceLog:
    return InferenceLog(
        event_id=f"log-{i}", timestamp=1.0, request_id=f"req-{i}", model=ModelRef(name="m", version="sha256-aaaaaaaaaaaa"),
        task="classification", input=Input(text=f"text {i}"), prediction=Output(label="a"), latency_ms=1.0,
        metadata=metadata,
    )


def _nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


async def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def tansu_settings(tansu_bootstrap: str) -> KafkaSettings:
    return isolated_settings(tansu_bootstrap)


async def test_an_event_orjson_cannot_encode_is_dropped_and_shipping_goes_on(tansu_settings: KafkaSettings,
                                                                            tmp_path: Path) -> None:
    metrics = ServingMetrics()
    spill = SpillQueue(tmp_path / "spill", max_bytes=1 << 20)
    shipper = EventShipper(tansu_settings, spill, metrics=metrics, linger=0.0)
    await shipper.start()
    try:
        shipper.offer(_log(0))
        shipper.offer(_log(1, {"x": 2**64}))  # orjson: "Integer exceeds 64-bit range" (a TypeError)
        shipper.offer(_log(2, _nested(300)))  # orjson: "Recursion limit reached"
        shipper.offer(_log(3, {"bad": "\ud800"}))  # a lone surrogate
        await _until(lambda: shipper.state().queued == 0 and shipper.state().in_flight == 0)
        shipper.offer(_log(4))  # offered after the bad ones: still shipped
        assert await shipper.idle(30)
    finally:
        await shipper.stop()
        spill.close()
    records = await read_all(tansu_settings, tansu_settings.topic("inference_log"), 2)
    assert sorted(ids(records)) == ["log-0", "log-4"]
    assert metrics.value("pioneer_serving_events_dropped_total", reason="unencodable") == 3
    assert metrics.value("pioneer_serving_task_restarts_total", task="shipper-pump") == 0


async def test_a_background_task_that_dies_is_logged_and_restarted(tansu_settings: KafkaSettings, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    metrics = ServingMetrics()
    spill = SpillQueue(tmp_path / "spill", max_bytes=1 << 20)
    shipper = EventShipper(tansu_settings, spill, metrics=metrics, linger=0.0, retry_interval=0.2)
    deliver = shipper._deliver
    calls = {"n": 0}

    async def fails_once(records):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the pump")
        return await deliver(records)

    monkeypatch.setattr(shipper, "_deliver", fails_once)
    await shipper.start()
    try:
        with caplog.at_level(logging.ERROR, logger="streams.serving.shipper"):
            shipper.offer(_log(0))  # in flight when the pump dies: spilled on restart, then replayed
            await _until(lambda: metrics.value("pioneer_serving_task_restarts_total", task="shipper-pump") == 1)
            shipper.offer(_log(1))
            assert await shipper.idle(30)
    finally:
        await shipper.stop()
        spill.close()
    assert any("shipper-pump" in r.getMessage() and r.exc_info for r in caplog.records), "the death was not logged"
    records = await read_all(tansu_settings, tansu_settings.topic("inference_log"), 2)
    assert sorted(set(ids(records))) == ["log-0", "log-1"]


async def test_spilled_events_wait_for_their_topics_and_arrive_once(tmp_path: Path) -> None:
    """The broker comes back empty: nothing is delivered (nor removed from the spill) until the topics exist
    with the catalogued partitions, and then every spilled event arrives exactly once."""
    port = free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    metrics = ServingMetrics()
    spill = SpillQueue(tmp_path / "spill", max_bytes=1 << 22)
    shipper = EventShipper(settings, spill, metrics=metrics, delivery_timeout=1.0, retry_interval=0.2, linger=0.0)
    broker = TansuBroker(port=port)
    sent = 200
    await shipper.start()
    try:
        for i in range(sent):
            shipper.offer(_log(i))
        await _until(lambda: spill.pending_records == sent)
        await asyncio.to_thread(broker.start)
        # The broker answers, the topics are not there: the shipper says so and keeps every event.
        await _until(lambda: bool(shipper.state().waiting_for_topics))
        await asyncio.sleep(1.0)  # several probes
        state = shipper.state()
        assert state.spill_records == sent and settings.topic("inference_log") in state.waiting_for_topics
        assert "waiting for topics" in (state.last_error or "")
        assert settings.topic("inference_log") not in await list_topics(settings), "the shipper created a topic"
        await ensure_topics(settings)
        assert await shipper.idle(30)
        assert not shipper.state().waiting_for_topics
        records = await read_all(settings, settings.topic("inference_log"), sent)
    finally:
        await shipper.stop()
        spill.close()
        broker.stop()
    got = ids(records)
    assert len(got) == len(set(got)) == sent
    assert sorted(got) == sorted(f"log-{i}" for i in range(sent))
    assert metrics.value("pioneer_serving_events_replayed_total") == sent
    assert {orjson.loads(r.value)["request_id"] for r in records} == {f"req-{i}" for i in range(sent)}


async def test_a_topic_with_other_partitions_than_catalogued_gets_nothing(tansu_bootstrap: str, tmp_path: Path) -> None:
    """Records are partitioned by key over the catalogued count: a topic shaped otherwise (auto-created with a
    broker's default, say) would break the co-partitioning of logs and labels, so the shipper holds its events."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    settings = KafkaSettings(bootstrap_servers=tansu_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    logs_topic = settings.topic("inference_log")
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(logs_topic, 1, replication_factor=1)])
    finally:
        await admin.close()
    spill = SpillQueue(tmp_path / "spill", max_bytes=1 << 20)
    shipper = EventShipper(settings, spill, linger=0.0, retry_interval=0.2)
    await shipper.start()
    try:
        for i in range(10):
            shipper.offer(_log(i))
        await _until(lambda: spill.pending_records == 10 and bool(shipper.state().waiting_for_topics))
        assert "1 partitions, not" in (shipper.state().last_error or "")
    finally:
        await shipper.stop()
        spill.close()
    assert await read_all(settings, logs_topic, 0, timeout=1) == []

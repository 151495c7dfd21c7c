"""The shipper with no broker at all (a port nobody listens on): requests never wait, every event goes to the
disk spill, and whatever a bound refuses is counted by reason. With a broker, see tests/integration/test_serving.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson

from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.serving import SpillQueue
from streams.brokers import free_port
from streams.kafka import KafkaSettings
from streams.serving import EventShipper, ServingMetrics


def _log(i: int) -> InferenceLog:
    return InferenceLog(
        event_id=f"log-{i}", timestamp=1.0, request_id=f"req-{i}", model=ModelRef(name="m", version="sha256-aaaaaaaaaaaa"),
        task="classification", input=Input(text=f"text {i}"), prediction=Output(label="a"), latency_ms=1.0,
    )


def _nowhere() -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_without_a_broker_everything_is_spilled_and_offer_never_waits(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    spill = SpillQueue(tmp_path / "spill", max_bytes=1 << 20)
    shipper = EventShipper(_nowhere(), spill, metrics=metrics, delivery_timeout=0.5, retry_interval=0.2)
    await shipper.start()
    started = time.perf_counter()
    assert all(shipper.offer(_log(i)) for i in range(200))
    assert time.perf_counter() - started < 0.05  # 200 offers: no I/O on the request path
    await _until(lambda: spill.pending_records == 200)
    assert metrics.value("pioneer_serving_events_spilled_total") == 200
    assert metrics.value("pioneer_serving_broker_up") == 0
    assert not shipper.state().broker_up and shipper.state().last_error
    await shipper.stop()
    spill.close()
    reopened = SpillQueue(tmp_path / "spill", max_bytes=1 << 20)
    ids = []
    while (batch := reopened.read(1000)).records:
        ids += [orjson.loads(r)["event_id"] for r in batch.records]
        reopened.commit(batch)
    assert sorted(ids) == sorted(f"log-{i}" for i in range(200))


async def test_every_event_past_a_bound_is_counted_by_reason(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    one = len(orjson.dumps(_log(0))) + 1
    spill = SpillQueue(tmp_path / "spill", max_bytes=one * 12)  # room for about 12 events
    shipper = EventShipper(_nowhere(), spill, metrics=metrics, max_queued=30, delivery_timeout=0.5)
    offered = [shipper.offer(_log(i)) for i in range(40)]  # before the pump runs: memory holds 30
    assert offered.count(False) == 10
    await shipper.start()
    await _until(lambda: shipper.state().queued == 0 and shipper.state().in_flight == 0)
    await shipper.stop()
    spilled = metrics.value("pioneer_serving_events_spilled_total")
    dropped_spill = metrics.value("pioneer_serving_events_dropped_total", reason="spill_full")
    assert metrics.value("pioneer_serving_events_dropped_total", reason="memory_full") == 10
    assert spilled == spill.pending_records >= 10
    assert spilled + dropped_spill == 30  # every event the memory took is on disk or counted
    spill.close()


async def test_stop_spills_what_is_still_in_memory(tmp_path: Path) -> None:
    spill = SpillQueue(tmp_path / "spill", max_bytes=1 << 20)
    shipper = EventShipper(_nowhere(), spill, delivery_timeout=0.5)
    for i in range(25):
        shipper.offer(_log(i))
    await shipper.stop()  # never started: nothing shipped, so all 25 go to disk
    assert spill.pending_records == 25
    spill.close()

"""``pioneer serve`` against real brokers and real tiny models, over real HTTP.

- the command answers predict, batch and feedback; its inference logs and labels arrive in their topics;
- a release published while requests stream is served by later requests with no failed request, and a
  rollback returns to the old version; a server that starts late serves the latest release, not the history;
- a broker that goes away and comes back loses no inference log: after deduplication by event id, exactly one
  log per answer arrives (delivery is at-least-once, so a shipment unacknowledged when the broker died may repeat);
- with no broker at all, the spill takes logs up to its bound, counts what it refuses, and delivers what it
  took when a broker appears;
- the OpenAI-compatible endpoint serves a generation model, to a plain HTTP client and to the trainer's teacher.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from pioneer.events import AliasMove, EventCodec, GateReport, ModelRef, ModelRelease
from pioneer.registry import FileRegistry, rollback
from pioneer.settings import Paths
from streams.admin import ensure_topics
from streams.brokers import ApacheKafkaBroker, TansuBroker, free_port
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from streams.serving import BackgroundServer, ServeConfig, ServingRuntime, create_app
from tests.integration.helpers import read_all
from tests.unit.serving.tiny_models import (
    GEN_SYSTEM,
    LABELS,
    register_classifiers,
    register_generator,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

TEXTS = ["play some jazz", "wake me up at 7", "send 20 dollars to anna", "will it rain in oslo", "put on rock music"]


@dataclass
class Intents:
    registry: FileRegistry
    v1: str
    v2: str
    model: str = "intents"


@pytest.fixture
def intents(tmp_path: Path) -> Intents:
    registry = FileRegistry(tmp_path / "registry")
    v1, v2 = register_classifiers(registry)
    return Intents(registry, v1, v2)


def _server(settings: KafkaSettings | None, registry: FileRegistry, spill: Path, **config) -> BackgroundServer:
    runtime = ServingRuntime(
        ServeConfig(model=config.pop("model", "intents"), spill_dir=spill, **config), registry=registry, kafka=settings
    )
    return BackgroundServer(create_app(runtime), port=free_port()).start()


async def _wait_ready(client: httpx.AsyncClient, version: str | None = None, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await client.get("/readyz")
            body = response.json()
            if response.status_code == 200 and (version is None or body["version"] == version):
                return body
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server not ready in time"
        await asyncio.sleep(0.1)


async def _wait_shipped(client: httpx.AsyncClient, timeout: float = 60.0) -> dict:
    """Until the server holds no event in memory, in flight or on disk."""
    deadline = time.monotonic() + timeout
    while True:
        logging = (await client.get("/readyz")).json()["logging"]
        if not (logging["queued"] or logging["in_flight"] or logging["spilled"]):
            return logging
        assert time.monotonic() < deadline, f"events not shipped in time: {logging}"
        await asyncio.sleep(0.1)


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _release(model: str, version: str, parent: str | None) -> ModelRelease:
    return ModelRelease(
        event_id=f"rel-{uuid.uuid4().hex[:8]}", timestamp=time.time(), model=ModelRef(name=model, version=version),
        parent_version=parent, alias=AliasMove(name="production", from_version=parent, to_version=version),
        metrics={"accuracy": 1.0}, gate_report=GateReport(passed=True, baseline_version=parent, checks=[], notes=[]),
        task="classification",
    )


async def _publish(settings: KafkaSettings, *events) -> None:
    async with EventPublisher(settings) as publisher:
        await publisher.publish(list(events))


# ---------------------------------------------------------------------------------------------------- the command


@pytest.fixture
def cli_server(kafka_settings: KafkaSettings, pioneer_home: Path) -> Iterator[tuple[str, Intents, subprocess.Popen]]:
    registry = FileRegistry(Paths.from_env().registry)
    v1, v2 = register_classifiers(registry)
    port = free_port()
    env = {**os.environ, "PIONEER_BROKER": kafka_settings.bootstrap_servers,
           "PIONEER_TOPIC_PREFIX": kafka_settings.topic_prefix, "PIONEER_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from pioneer.cli import main; main()", "serve", "--model", "intents", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", Intents(registry, v1, v2), process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_the_command_answers_and_its_logs_and_labels_arrive(cli_server, kafka_settings: KafkaSettings) -> None:
    url, intents, process = cli_server
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        ready = await _wait_ready(client, intents.v1)
        assert ready["broker"]["reachable"] is True and ready["releases"]["following"] is True
        single = await client.post("/v1/predict", json={"text": "play some jazz", "metadata": {"tenant": "t1"}},
                                   headers={"X-Request-ID": "cli-req-1"})
        batch = await client.post("/v1/predict/batch", json={"inputs": [{"text": t} for t in TEXTS[1:4]]})
        feedback = await client.post("/v1/feedback", json={"request_id": "cli-req-1", "label": "music"})
        assert single.status_code == batch.status_code == 200 and feedback.status_code == 202
        assert single.json()["prediction"]["label"] in LABELS
        assert single.headers["x-model-version"] == batch.headers["x-model-version"] == intents.v1
        await _wait_shipped(client)
    process.send_signal(signal.SIGTERM)
    code = process.wait(60)
    output = process.stdout.read().decode() if process.stdout else ""
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says how the process ended.
    assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in output, output[-3000:]

    codec = EventCodec()
    logs = [codec.decode(r.value) for r in await read_all(kafka_settings, kafka_settings.topic("inference_log"), 4)]
    labels = [codec.decode(r.value) for r in await read_all(kafka_settings, kafka_settings.topic("label"), 1)]
    by_request = {log.request_id: log for log in logs}
    assert len(logs) == 4 and set(by_request) == {"cli-req-1"} | {r["request_id"] for r in batch.json()["results"]}
    first = by_request["cli-req-1"]
    assert first.model == ModelRef(name="intents", version=intents.v1) and first.task == "classification"
    assert first.input.text == "play some jazz" and first.metadata == {"tenant": "t1"}
    assert first.prediction.label == single.json()["prediction"]["label"]
    for result in batch.json()["results"]:
        assert by_request[result["request_id"]].prediction.label == result["prediction"]["label"]
    assert [(l.request_id, l.expected.label, l.event_id) for l in labels] == [
        ("cli-req-1", "music", feedback.json()["event_id"])]


# ---------------------------------------------------------------------------------------------------- hot swap


async def test_release_and_rollback_while_requests_stream(kafka_settings: KafkaSettings, intents: Intents,
                                                           tmp_path: Path) -> None:
    server = _server(kafka_settings, intents.registry, tmp_path / "spill")
    seen: list[list[tuple[int, str, str]]] = [[] for _ in range(4)]  # per client: (status, version, request id)
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await _wait_ready(client, intents.v1)

            async def stream(k: int) -> None:
                i = 0
                while not stop.is_set():
                    r = await client.post("/v1/predict", json={"text": TEXTS[(i + k) % len(TEXTS)]})
                    seen[k].append((r.status_code, r.headers.get("x-model-version", ""), r.headers.get("x-request-id", "")))
                    i += 1

            async def until_version(version: str, after: int) -> float:
                started = time.monotonic()
                while not any(v == version for s in seen for _, v, _ in s[after:]):
                    assert time.monotonic() - started < 60, f"{version} never served"
                    await asyncio.sleep(0.01)
                return time.monotonic() - started

            clients = [asyncio.create_task(stream(k)) for k in range(4)]
            await asyncio.sleep(0.5)
            intents.registry.move_alias("intents", "production", intents.v2, kind="release", reason="test")
            mark = min(len(s) for s in seen)
            await _publish(kafka_settings, _release("intents", intents.v2, intents.v1))
            release_s = await until_version(intents.v2, mark)
            await asyncio.sleep(0.5)
            event = rollback(intents.registry, "intents", reason="test rollback")
            assert event.model.version == intents.v1
            mark = min(len(s) for s in seen)
            await _publish(kafka_settings, event)
            rollback_s = await until_version(intents.v1, mark)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*clients)
            metrics = (await client.get("/metrics")).text
            await _wait_shipped(client)
    finally:
        server.stop()
    print(f"\nrelease served {release_s * 1000:.0f} ms after publishing; rollback {rollback_s * 1000:.0f} ms")

    statuses = [status for s in seen for status, _, _ in s]
    assert statuses and set(statuses) == {200}, "a request failed during a swap"
    for answers in seen:
        phases = [v for i, (_, v, _) in enumerate(answers) if i == 0 or answers[i - 1][1] != v]
        assert phases == [intents.v1, intents.v2, intents.v1], phases  # never back to an older version
    assert _metric(metrics, 'pioneer_serving_swaps_total{kind="release"}') == 1
    assert _metric(metrics, 'pioneer_serving_swaps_total{kind="rollback"}') == 1

    answered = {rid: version for s in seen for _, version, rid in s}
    records = await read_all(kafka_settings, kafka_settings.topic("inference_log"), len(answered))
    logged = {orjson.loads(r.value)["request_id"]: orjson.loads(r.value)["model"]["version"] for r in records}
    assert len(records) == len(answered) and logged == answered  # every answer logged with the version that gave it


async def test_a_late_starter_serves_the_latest_release_not_the_history(kafka_settings: KafkaSettings,
                                                                         intents: Intents, tmp_path: Path) -> None:
    v1, v2 = intents.v1, intents.v2
    rolled_back = _release("intents", v1, v2)
    history = [_release("intents", v2, v1), rolled_back, _release("intents", v2, v1),
               _release("other-model", v1, None)]
    await _publish(kafka_settings, *history)
    server = _server(kafka_settings, intents.registry, tmp_path / "spill")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await _wait_ready(client, v2)
            response = await client.post("/v1/predict", json={"text": "play some jazz"})
            assert response.headers["x-model-version"] == v2
            metrics = (await client.get("/metrics")).text
    finally:
        server.stop()
    assert _metric(metrics, "pioneer_serving_swaps_total") <= 2  # the registry's alias first, perhaps; then v2 once
    assert _metric(metrics, 'pioneer_serving_swaps_total{kind="release"}') == 1


# ---------------------------------------------------------------------------------------------------- outages


@dataclass
class Load:
    """A client that streams requests and remembers every answer."""

    client: httpx.AsyncClient
    ok: dict[str, float] = field(default_factory=dict)  # request id -> seconds
    failed: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, k: int) -> None:
        i = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                r = await self.client.post("/v1/predict", json={"text": TEXTS[(i + k) % len(TEXTS)]})
            except httpx.HTTPError as exc:
                self.failed.append(repr(exc))
            else:
                if r.status_code == 200:
                    self.ok[r.json()["request_id"]] = time.perf_counter() - started
                else:
                    self.failed.append(f"{r.status_code} {r.text[:200]}")
            i += 1
            await asyncio.sleep(0.005)


async def test_a_broker_outage_loses_no_inference_log(intents: Intents, tmp_path: Path) -> None:
    broker = ApacheKafkaBroker(port=free_port(), data_dir=tmp_path / "kafka", cache_dir=Paths.from_env().cache)
    await asyncio.to_thread(broker.start)
    server = None
    try:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
        await ensure_topics(settings)
        server = _server(settings, intents.registry, tmp_path / "spill", delivery_timeout=2.0, retry_interval=0.5)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await _wait_ready(client, intents.v1)
            load = Load(client)
            clients = [asyncio.create_task(load.run(k)) for k in range(2)]
            await asyncio.sleep(1.0)
            before_outage = len(load.ok)
            await asyncio.to_thread(broker.stop)
            outage_started = len(load.ok)
            deadline = time.monotonic() + 30
            while (await client.get("/readyz")).json()["logging"]["spilled"] == 0:
                assert time.monotonic() < deadline, "nothing was spilled while the broker was down"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            during_outage = len(load.ok) - outage_started
            down = (await client.get("/readyz")).json()
            await asyncio.to_thread(broker.start)
            await asyncio.sleep(1.0)
            load.stop.set()
            await asyncio.gather(*clients)
            await _wait_shipped(client, timeout=90)
            metrics = (await client.get("/metrics")).text
        server.stop()
        server = None
        records = await read_all(settings, settings.topic("inference_log"), len(load.ok), timeout=60)
    finally:
        if server is not None:
            server.stop()
        broker.stop()

    assert not load.failed, load.failed[:5]
    assert before_outage > 0 and during_outage > 0, "requests did not flow before and during the outage"
    assert down["ready"] and down["broker"]["reachable"] is False
    logs = {}
    for record in records:
        log = orjson.loads(record.value)
        logs.setdefault(log["event_id"], log)
    duplicates = len(records) - len(logs)
    # Exactly one log per answer, by event id: none missing, none unknown. Delivery is at-least-once (the
    # catalogue's contract; consumers deduplicate by event id): a shipment the broker wrote just before it went
    # down but never acknowledged is spilled and replayed, so it can arrive twice. Only shipments in flight at
    # that moment can: one from memory (500 events at most) and one from the spill (2000 at most).
    assert sorted(log["request_id"] for log in logs.values()) == sorted(load.ok), "logs are missing or unknown"
    assert duplicates <= 2500
    assert _metric(metrics, "pioneer_serving_events_spilled_total") > 0
    assert _metric(metrics, "pioneer_serving_events_replayed_total") == _metric(metrics, "pioneer_serving_events_spilled_total")
    assert _metric(metrics, "pioneer_serving_events_dropped_total") == 0
    latencies = sorted(load.ok.values())
    print(f"\n{len(load.ok)} requests, {during_outage} while the broker was down; "
          f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.0f} ms; "
          f"{int(_metric(metrics, 'pioneer_serving_events_spilled_total'))} logs spilled and replayed; "
          f"{duplicates} delivered twice (at-least-once)")


async def test_without_a_broker_the_spill_keeps_logs_up_to_its_bound(intents: Intents, tmp_path: Path) -> None:
    port = free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    server = _server(settings, intents.registry, tmp_path / "spill", spill_max_bytes=12_000, follow_releases=False,
                     delivery_timeout=1.0, retry_interval=0.3)
    broker = TansuBroker(port=port)
    sent = 40
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await _wait_ready(client, intents.v1)
            answered = []
            for i in range(sent):
                r = await client.post("/v1/predict", json={"text": f"{TEXTS[i % len(TEXTS)]} number {i}"})
                assert r.status_code == 200
                answered.append(r.json()["request_id"])
            deadline = time.monotonic() + 30
            while True:
                metrics = (await client.get("/metrics")).text
                spilled = _metric(metrics, "pioneer_serving_events_spilled_total")
                dropped = _metric(metrics, 'pioneer_serving_events_dropped_total{reason="spill_full"}')
                if spilled + dropped == sent:
                    break
                assert time.monotonic() < deadline, (spilled, dropped)
                await asyncio.sleep(0.1)
            assert 0 < spilled < sent and dropped > 0
            await asyncio.to_thread(broker.start)
            await ensure_topics(settings)
            await _wait_shipped(client, timeout=60)
        records = await read_all(settings, settings.topic("inference_log"), int(spilled), timeout=30)
    finally:
        server.stop()
        broker.stop()
    request_ids = [orjson.loads(r.value)["request_id"] for r in records]
    assert len(request_ids) == len(set(request_ids)) == spilled
    assert set(request_ids) <= set(answered)
    assert request_ids_in_order(request_ids, answered)


def request_ids_in_order(got: list[str], answered: list[str]) -> bool:
    """The spill replays in order: what arrived is a prefix of what was answered (the rest hit the bound)."""
    return sorted(got, key=answered.index) == answered[: len(got)]


# ---------------------------------------------------------------------------------------------------- generation


async def test_chat_completions_serve_a_generation_model_and_the_teacher(kafka_settings: KafkaSettings,
                                                                         tmp_path: Path) -> None:
    from pioneer.chat import ChatEndpoint
    from pioneer.curriculum.teacher import OpenAICompatibleTeacher

    registry = FileRegistry(tmp_path / "registry")
    version = register_generator(registry, "smol")
    server = _server(kafka_settings, registry, tmp_path / "spill", model="smol", warmup_rounds=1)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            await _wait_ready(client, version, timeout=180)
            models = (await client.get("/v1/models")).json()
            assert models["data"][0]["id"] == "smol" and models["data"][0]["task"] == "generation"
            response = await client.post("/v1/chat/completions", json={
                "model": "smol", "temperature": 0.7, "max_tokens": 20,
                "messages": [{"role": "system", "content": GEN_SYSTEM}, {"role": "user", "content": "What is 2 plus 3?"}],
            })
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["object"] == "chat.completion" and body["model"] == "smol"
            assert body["system_fingerprint"] == version == response.headers["x-model-version"]
            choice = body["choices"][0]
            assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
            assert choice["message"]["content"].strip()
            streaming = await client.post("/v1/chat/completions", json={
                "model": "smol", "stream": True, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
            assert streaming.status_code == 200 and streaming.text.endswith("data: [DONE]\n\n")
            teacher = OpenAICompatibleTeacher(ChatEndpoint(f"{server.url}/v1", "smol", timeout=120))
            answer = await asyncio.to_thread(teacher.complete, "What is 4 plus 4?")
            assert isinstance(answer, str) and answer.strip()
            await _wait_shipped(client)
    finally:
        server.stop()
    codec = EventCodec()
    logs = [codec.decode(r.value) for r in await read_all(kafka_settings, kafka_settings.topic("inference_log"), 3)]
    assert len(logs) == 3 and {log.task for log in logs} == {"generation"}
    first = next(log for log in logs if log.request_id == response.headers["x-request-id"])
    assert first.input.system_prompt == GEN_SYSTEM and first.input.text == "What is 2 plus 3?"
    assert first.prediction.text == choice["message"]["content"]

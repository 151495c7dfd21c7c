"""The README's guide for a downstream service runs as written: its code block, as its own process with only
aiokafka and the registry, against Apache Kafka, loads the newest production version after catching up on the
release history (not every version in it), then each later release."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from pioneer.events import AliasMove, GateReport, ModelRef, ModelRelease
from pioneer.registry import FileRegistry
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from tests.unit.serving.tiny_models import register_classifiers

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(# follow_releases\.py.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1, "the README's follow_releases.py block is gone"
    return blocks[0]


def release(model: str, version: str, parent: str | None) -> ModelRelease:
    return ModelRelease(
        event_id=f"rel-{uuid.uuid4().hex[:8]}", timestamp=time.time(), model=ModelRef(name=model, version=version),
        parent_version=parent, alias=AliasMove(name="production", from_version=parent, to_version=version),
        metrics={"accuracy": 1.0}, gate_report=GateReport(passed=True, baseline_version=parent, checks=[], notes=[]),
        task="classification",
    )


def publish(settings: KafkaSettings, *events: ModelRelease) -> None:
    async def send() -> None:
        async with EventPublisher(settings) as publisher:
            await publisher.publish(list(events))

    asyncio.run(send())


def test_the_readme_follower_loads_the_newest_release_then_each_new_one(kafka_settings: KafkaSettings,
                                                                         tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry")
    v1, v2 = register_classifiers(registry, "intents")
    publish(kafka_settings, release("intents", v2, v1), release("other", v2, None), release("intents", v1, v2))
    script = tmp_path / "follow_releases.py"
    script.write_text(readme_example(), encoding="utf-8")
    env = {**os.environ, "MODEL": "intents", "PIONEER_BROKER": kafka_settings.bootstrap_servers,
           "PIONEER_TOPIC_PREFIX": kafka_settings.topic_prefix, "PIONEER_REGISTRY": str(tmp_path / "registry"),
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]

    def next_serving(timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, "the example exited"
                continue
            if line.startswith("serving "):
                return line
        raise AssertionError("the example loaded nothing")

    try:
        first = next_serving()
        assert first.startswith(f"serving intents {v1}: Output(label="), first  # the newest only, not v2 first
        publish(kafka_settings, release("intents", v2, v1))
        assert next_serving().startswith(f"serving intents {v2}: ")
    finally:
        process.terminate()
        process.wait(30)

"""``pioneer coldstart --from-logs``: the model's inference logs on a real broker become the teacher's pool."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from pioneer.cli import cli
from pioneer.coldstart import AcquiredStore
from pioneer.events import InferenceLog, Input, ModelRef, Output
from streams.inference_texts import read_inference_texts
from streams.io import EventPublisher
from tests.unit.training.synthetic import INTENTS, intent_data

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def _log(i: int, text: str, model: str) -> InferenceLog:
    return InferenceLog(event_id=f"log-{i}", timestamp=1.0 + i, request_id=f"req-{i}",
                        model=ModelRef(name=model, version="v0"), task="classification", input=Input(text=text),
                        prediction=Output(label="weather"), latency_ms=1.0)


def _publish(settings, data) -> None:
    logs = [_log(i, e.text, "assistant") for i, e in enumerate(data)]
    logs += [_log(1000 + i, f"another model's text {i}", "other") for i in range(5)]
    logs.append(_log(2000, data[0].text, "assistant"))  # asked twice: one text in the pool

    async def send() -> None:
        async with EventPublisher(settings) as publisher:
            await publisher.publish(logs)
            await publisher.send_raw(settings.topic("inference_log"), b"not an event", b"k")

    asyncio.run(send())


def test_snapshot_reads_the_models_distinct_texts(kafka_settings) -> None:
    data = intent_data(5, seed=9, split="logs")
    _publish(kafka_settings, data)
    found = asyncio.run(read_inference_texts(kafka_settings, "assistant", timeout=30))
    assert sorted(found.texts) == sorted({e.text for e in data})
    assert (found.other_models, found.undecodable, found.complete) == (5, 1, True)
    assert found.records == len(data) + 5 + 1 + 1


def test_coldstart_labels_the_models_logs(kafka_settings, tmp_path, pioneer_home, monkeypatch) -> None:
    data = intent_data(12, seed=4, split="logs")
    _publish(kafka_settings, data)
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in data))
    monkeypatch.setenv("PIONEER_TOPIC_PREFIX", kafka_settings.topic_prefix)
    args = ["coldstart", "Route a user's request to one of its intents.", "--labels", ", ".join(INTENTS),
            "--from-logs", "--teacher", f"simulated:{tmp_path / 'gold.jsonl'}:0.0", "--budget", "0",
            "--eval-per-label", "4", "--broker", kafka_settings.bootstrap_servers,
            "--registry", str(tmp_path / "reg"), "--workdir", str(tmp_path / "work")]
    result = CliRunner().invoke(cli, [*args, "--model", "assistant"])
    assert result.exit_code == 0, result.output
    acquired = AcquiredStore(tmp_path / "work" / "acquired.jsonl").items
    assert {i.example.text for i in acquired} == {e.text for e in data}
    assert {i.source for i in acquired} == {"teacher:simulated-0%"}

    missing = CliRunner().invoke(cli, [*args, "--model", "nobody", "--workdir", str(tmp_path / "w2")])
    assert missing.exit_code != 0 and "no inference logs of model 'nobody'" in missing.output

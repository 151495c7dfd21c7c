"""The monitor's pattern stage on Apache Kafka, fed schema-valid traces whose processing breaks: one whose text
makes the embedder raise (as a tokenizer bug would), one whose embedding comes out NaN. Each is dead-lettered
with its reason, nothing of it is learned, and the stage goes on with the rest."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pioneer.events import DeadLetter, EventCodec
from streams.kafka import KafkaSettings
from tests.integration.helpers import (
    read_all,
    share_machine_cache,
    stop_process,
    wait_for,
)
from tests.integration.test_monitor_worker import publish_mixed, traffic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

# The product's monitor, with its embedder wrapped: it raises on one text and returns NaN for another.
WORKER = """
import os
import numpy as np
from pioneer.embedding import Embedder
from pioneer.logs import configure_logging
from streams.app import run_worker
from streams.kafka import KafkaSettings
from streams.monitor.config import MonitorConfig
from streams.monitor.worker import build_monitor

class Breaking(Embedder):
    def encode(self, texts):
        if any("POISON-RAISE" in t for t in texts):
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")
        vectors = super().encode(texts)
        vectors[[i for i, t in enumerate(texts) if "POISON-NAN" in t]] = np.nan
        return vectors

configure_logging("INFO", "json")
config = MonitorConfig(checkpoint_interval=1.0)  # its groups are named after the test's topic prefix
run_worker(build_monitor(KafkaSettings.from_env(), config, embedder=Breaking(config.embed_model)).app)
"""


def _checkpointed_traces(log: Path) -> int:
    """Traces the stage had learned at its latest checkpoint, from its JSON log."""
    seen = [orjson.loads(line[line.index("{"):])["traces"] for line in log.read_text().splitlines()
            if '"checkpointed a model\'s clusters"' in line]
    return max(seen, default=0)


def _letters(settings: KafkaSettings) -> list:
    return asyncio.run(read_all(settings, settings.topic("dead_letter"), 2, timeout=2))


def test_poison_traces_are_dead_lettered_and_the_pattern_stage_goes_on(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    logs, labels = traffic(200)
    for i, marker in ((40, "POISON-RAISE"), (120, "POISON-NAN")):
        logs[i].input.text = f"{marker} {logs[i].input.text}"
        labels[i].expected.label = "poison-label"  # a failure: failures are always embedded
    asyncio.run(publish_mixed(kafka_settings, logs, labels))
    share_machine_cache(tmp_path)  # the embedder's ONNX export is made once per machine, not once per run
    env = dict(os.environ, PIONEER_HOME=str(tmp_path), PIONEER_BROKER=kafka_settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=kafka_settings.topic_prefix, HF_HUB_OFFLINE="1")
    log = tmp_path / "monitor.log"
    with open(log, "wb") as out:
        monitor = subprocess.Popen([sys.executable, "-c", WORKER], stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=Path(__file__).parents[2], start_new_session=True)
    codec = EventCodec()
    try:
        wait_for(lambda: len(_letters(kafka_settings)) >= 2, 180, "two dead letters", every=1)
        # the stage goes on: later traffic is learned, and its batch checkpoints the watch
        more_logs, more_labels = traffic(20, seed=3, start=1_800_000_100.0, first=len(logs))
        asyncio.run(publish_mixed(kafka_settings, more_logs, more_labels))
        total = len(logs) + len(more_logs) - 2
        wait_for(lambda: _checkpointed_traces(log) >= total, 120, "every good trace learned", every=1)
        assert monitor.poll() is None
    finally:
        stop_process(monitor)
    assert _checkpointed_traces(log) == total  # the two poison traces were not learned
    records = _letters(kafka_settings)
    letters = sorted((codec.decode(r.value, expected=DeadLetter) for r in records), key=lambda d: d.reason)
    assert [(d.error, d.source.topic) for d in letters] == [("processing", kafka_settings.topic("labeled_trace"))] * 2
    assert "TypeError" in letters[0].reason and "finite: False" in letters[1].reason
    assert [orjson.loads(base64.b64decode(d.payload_b64))["request_id"] for d in letters] == ["req-40", "req-120"]

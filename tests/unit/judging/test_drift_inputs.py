"""The judge worker embeds the inputs of logs that carry no embedding, so the drift watch sees a region's
inputs move (a new way of asking landing in one predicted label) without any label, and boosts its sampling."""

from __future__ import annotations

import asyncio

import numpy as np

from pioneer.embedding import Embedder
from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging import CallBudget, DriftWatch, StratifiedSampler
from pioneer.judging.checkers import RegexChecker
from pioneer.synthetic import BankingTask
from streams.io import EventPublisher
from streams.judge.worker import JudgeWorker
from streams.kafka import KafkaSettings

MODEL = ModelRef(name="intents", version="sha256-eeeeeeeeeeee")


def _logs(texts: list[str], start: int) -> list[InferenceLog]:
    # Every answer is "balance": the blind spot hides inside a label the model already predicts, with no scores.
    return [InferenceLog(event_id=f"e{start + i}", timestamp=float(start + i), request_id=f"r{start + i}", model=MODEL,
                         task="classification", input=Input(text=t), prediction=Output(label="balance"), latency_ms=1.0)
            for i, t in enumerate(texts)]


def _alarms(embedder: Embedder | None) -> list[tuple[int, str]]:
    task = BankingTask(seed=0)
    usual = _logs([e.text for e in task.usual(400, stream="drift-usual")], 0)
    blind = _logs([e.text for e in task.blind_spot(100, stream="drift-blind")], 400)
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:9")  # never connected: only the sampling path runs
    drift = DriftWatch(warmup=100)
    sampler = StratifiedSampler(rate=0.05, budget=CallBudget(per_second=1000, per_day=1000), boost=drift.boost)
    worker = JudgeWorker(settings, EventPublisher(settings), RegexChecker(pattern=r".*"), sampler, drift=drift,
                         embedder=embedder)

    async def feed() -> None:
        for batch in (usual[:200], usual[200:], blind[:50], blind[50:]):
            for event, vector in zip(batch, await worker._embeddings(batch), strict=True):
                worker._wanted(event, vector)

    asyncio.run(feed())
    return [(a.seen, a.signal) for a in drift.alarms]


def test_a_new_way_of_asking_raises_input_shift_from_embedded_inputs_alone() -> None:
    alarms = _alarms(Embedder())
    assert alarms and all(seen > 400 and signal == "input_shift" for seen, signal in alarms), alarms
    # Without the worker's encoder these logs (no embedding, no scores) give the watch nothing to see.
    assert _alarms(None) == []


def test_a_log_s_own_embedding_is_used_and_a_failing_encoder_costs_only_the_signal() -> None:
    class Broken(Embedder):
        def encode(self, texts):  # type: ignore[override]
            raise RuntimeError("encoder unavailable")

    settings = KafkaSettings(bootstrap_servers="127.0.0.1:9")
    sampler = StratifiedSampler(rate=1.0, budget=CallBudget(per_second=1000, per_day=1000))
    worker = JudgeWorker(settings, EventPublisher(settings), RegexChecker(pattern=r".*"), sampler, drift=DriftWatch(),
                         embedder=Broken())
    carried, bare = _logs(["has one", "has none"], 0)
    carried.metadata = {"embedding": [0.6, 0.8]}
    vectors = asyncio.run(worker._embeddings([carried, bare]))
    assert np.allclose(vectors[0], [0.6, 0.8]) and vectors[1] is None

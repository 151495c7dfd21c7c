"""The pattern stage checks a model as soon as the trainer answers, even when no trace follows the answer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import faust

from pioneer.monitor import Findings
from streams.kafka import KafkaSettings
from streams.monitor.config import MonitorConfig
from streams.monitor.metrics import MonitorMetrics
from streams.monitor.patterns import PatternStage, _Model


class CountingWatch:
    """A model's watch that counts its checks (the stage's scheduling is under test, not the clustering)."""

    def __init__(self) -> None:
        self.checks = 0
        self.checked = asyncio.Event()
        self.clusterer = SimpleNamespace(n_clusters_=0)
        self.emerging_: list = []

    def answer(self, event: object) -> bool:
        return True

    def check(self) -> Findings:
        self.checks += 1
        self.checked.set()
        return Findings(patterns=(), requests=())


def _stage(clock) -> PatternStage:
    app = faust.App("pattern-stage-test", broker="kafka://127.0.0.1:1", store="memory://")
    return PatternStage(app, KafkaSettings(bootstrap_servers="127.0.0.1:1"), MonitorConfig(check_interval=0.2),
                        publisher=SimpleNamespace(), metrics=MonitorMetrics(), embedder=SimpleNamespace(), clock=clock)


def test_an_answer_right_after_a_check_is_checked_once_the_interval_passed() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        stage = _stage(loop.time)
        watch = CountingWatch()
        stage.models["m"] = _Model(watch=watch, last_check=loop.time())  # a check just happened
        await stage.answer(SimpleNamespace())
        assert watch.checks == 0  # within check_interval: not yet, and no trace will come to trigger it
        await asyncio.wait_for(watch.checked.wait(), timeout=30)
        await stage.answer(SimpleNamespace())  # a second answer within the interval waits for its own check
        await asyncio.sleep(0)
        return watch.checks

    assert asyncio.run(scenario()) == 1


def test_an_answer_after_the_interval_is_checked_at_once() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        stage = _stage(loop.time)
        watch = CountingWatch()
        stage.models["m"] = _Model(watch=watch, last_check=loop.time() - 10)
        await stage.answer(SimpleNamespace())
        return watch.checks

    assert asyncio.run(scenario()) == 1

"""Hot swap: load and warm up before the swap, every answer consistent with the version it reports, the newest
target wins, a failed load keeps the old model, a rollback to a cached version loads nothing."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pioneer.events import Input
from pioneer.serving import MicroBatcher, ModelNotReady, ModelSlot, ModelSwapper
from tests.unit.serving.conftest import PROBE, Toy


def _swapper(toy: Toy, slot: ModelSlot, pool: ThreadPoolExecutor, **kwargs) -> tuple[ModelSwapper, list[str]]:
    loads: list[str] = []

    def load(version: str):
        loads.append(version)
        return toy.registry.load_adapter(toy.model, version)

    return ModelSwapper(slot, model=toy.model, load=load, executor=pool, retry_delays=(0.05,), **kwargs), loads


async def test_answers_always_match_the_version_they_report_while_versions_swap(toy: Toy) -> None:
    slot = ModelSlot()
    with ThreadPoolExecutor(1) as loads_pool, ThreadPoolExecutor(1) as inference_pool:
        swapper, loads = _swapper(toy, slot, loads_pool)
        batcher = MicroBatcher(slot, inference_pool, max_batch=8)
        await swapper.start()
        await batcher.start()
        with pytest.raises(ModelNotReady):
            await batcher.predict([Input(text=PROBE)])
        swapper.set_target(toy.v1, kind="initial")
        assert await swapper.wait_serving(toy.v1, 10)

        answers: list[tuple[str, str | None]] = []
        stop = asyncio.Event()

        async def client() -> None:
            while not stop.is_set():
                served, (output,) = await batcher.predict([Input(text=PROBE)])
                answers.append((served.version, output.label))

        clients = [asyncio.create_task(client()) for _ in range(6)]
        for version, kind in [(toy.v2, "release"), (toy.v1, "rollback"), (toy.v2, "release"), (toy.v1, "rollback")]:
            await asyncio.sleep(0.05)
            swapper.set_target(version, kind=kind)
            assert await swapper.wait_serving(version, 10)
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*clients)
        await batcher.stop()
        await swapper.stop()

    assert {v for v, _ in answers} == {toy.v1, toy.v2}
    assert all(label == toy.expected(version) for version, label in answers)
    assert loads == [toy.v1, toy.v2]  # the later swaps came from the cache: no load
    assert [s.kind for s in slot.history] == ["initial", "release", "rollback", "release", "rollback"]


async def test_a_failed_load_keeps_the_old_model_and_a_new_target_recovers(toy: Toy) -> None:
    slot = ModelSlot()
    with ThreadPoolExecutor(1) as pool:
        swapper, _ = _swapper(toy, slot, pool)
        failures: list[str] = []
        swapper.failure_listeners.append(lambda version, exc: failures.append(version))
        await swapper.start()
        swapper.set_target(toy.v1, kind="initial")
        assert await swapper.wait_serving(toy.v1, 10)
        missing = "sha256-0000000000000000"
        swapper.set_target(missing, kind="release")
        await asyncio.sleep(0.3)
        assert slot.version == toy.v1
        assert failures and failures[0] == missing and len(failures) >= 2  # retried with backoff
        assert "RESOURCE_DOES_NOT_EXIST" in (swapper.last_error or "")
        swapper.set_target(toy.v2, kind="release")
        assert await swapper.wait_serving(toy.v2, 10)
        assert swapper.last_error is None
        await swapper.stop()


async def test_the_newest_target_wins_over_one_still_loading(toy: Toy) -> None:
    slot = ModelSlot()
    gate = threading.Event()
    loads: list[str] = []

    def slow_load(version: str):
        loads.append(version)
        if version == toy.v2:
            gate.wait(10)
        return toy.registry.load_adapter(toy.model, version)

    with ThreadPoolExecutor(1) as pool:
        swapper = ModelSwapper(slot, model=toy.model, load=slow_load, executor=pool, keep=1)
        await swapper.start()
        swapper.set_target(toy.v1, kind="initial")
        assert await swapper.wait_serving(toy.v1, 10)
        swapper.set_target(toy.v2, kind="release")
        while swapper.loading != toy.v2:
            await asyncio.sleep(0.01)
        swapper.set_target(toy.v1, kind="rollback")  # the release is rolled back before it ever served
        gate.set()
        await asyncio.sleep(0.3)
        await swapper.stop()
    assert [s.to_version for s in slot.history] == [toy.v1]
    assert slot.version == toy.v1


async def test_a_model_that_fails_its_warm_up_is_never_swapped_in(toy: Toy) -> None:
    class Broken:
        task = "classification"

        def predict(self, texts):
            raise RuntimeError("weights do not fit this architecture")

    slot = ModelSlot()
    with ThreadPoolExecutor(1) as pool:
        swapper = ModelSwapper(
            slot, model=toy.model, executor=pool, retry_delays=(0.05,),
            load=lambda v: Broken() if v == toy.v2 else toy.registry.load_adapter(toy.model, v),
        )
        await swapper.start()
        swapper.set_target(toy.v1, kind="initial")
        assert await swapper.wait_serving(toy.v1, 10)
        swapper.set_target(toy.v2, kind="release")
        await asyncio.sleep(0.2)
        await swapper.stop()
    assert slot.version == toy.v1 and swapper.failures >= 1
    assert "weights do not fit" in (swapper.last_error or "")

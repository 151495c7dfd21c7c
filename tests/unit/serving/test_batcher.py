"""Micro-batching: concurrent requests share forward passes, each gets its own answers in order, oversize
requests run whole, and an inference error fails only the requests of its batch."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from pioneer.events import Input, Output
from pioneer.serving import MicroBatcher, ModelSlot, ServedModel
from tests.unit.serving.conftest import Toy

TEXTS = ["move money to savings", "what is my balance", "send cash to my checking", "how much money do i have"]


def _slot(toy: Toy) -> ModelSlot:
    slot = ModelSlot()
    adapter = toy.registry.load_adapter(toy.model, toy.v1)
    slot.swap(ServedModel(name=toy.model, version=toy.v1, task=adapter.task, adapter=adapter), kind="initial")
    return slot


async def test_concurrent_requests_are_batched_and_answered_in_order(toy: Toy) -> None:
    slot = _slot(toy)
    adapter = slot.get().adapter
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool, max_batch=16)
        batcher.listeners.append(sizes.append)
        await batcher.start()
        requests = [[Input(text=TEXTS[(i + k) % 4]) for k in range(1 + i % 3)] for i in range(40)]
        results = await asyncio.gather(*(batcher.predict(r) for r in requests))
        await batcher.stop()
    for request, (served, outputs) in zip(requests, results, strict=True):
        assert served.version == toy.v1
        assert outputs == adapter.predict([i.text for i in request])
    assert sum(sizes) == sum(len(r) for r in requests)
    assert len(sizes) < len(requests) and max(sizes) <= 16  # batched, within the bound


async def test_a_request_larger_than_max_batch_runs_alone_and_whole(toy: Toy) -> None:
    slot = _slot(toy)
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool, max_batch=4)
        batcher.listeners.append(sizes.append)
        await batcher.start()
        big = [Input(text=TEXTS[i % 4]) for i in range(10)]
        small = [Input(text=TEXTS[0])]
        (_, big_out), (_, small_out) = await asyncio.gather(batcher.predict(big), batcher.predict(small))
        await batcher.stop()
    assert len(big_out) == 10 and len(small_out) == 1
    assert 10 in sizes


async def test_an_inference_error_fails_its_batch_and_the_batcher_keeps_serving(toy: Toy) -> None:
    class Flaky:
        task = "classification"

        def __init__(self) -> None:
            self.calls = 0

        def predict(self, texts):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("out of memory")
            return [Output(label="ok") for _ in texts]

    slot = ModelSlot()
    slot.swap(ServedModel(name="m", version="sha256-aaaaaaaaaaaa", task="classification", adapter=Flaky()), kind="initial")
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool)
        await batcher.start()
        with pytest.raises(RuntimeError, match="out of memory"):
            await batcher.predict([Input(text="a")])
        _, outputs = await batcher.predict([Input(text="b")])
        await batcher.stop()
    assert outputs == [Output(label="ok")]

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


async def test_a_large_request_is_sliced_so_a_small_one_answers_between_its_slices(toy: Toy) -> None:
    slot = _slot(toy)
    adapter = slot.get().adapter
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool, max_batch=4, max_batch_chars=1000)
        batcher.listeners.append(sizes.append)
        await batcher.start()
        big = [Input(text=(TEXTS[i % 4] + " ") * 20) for i in range(40)]  # ~400-500 characters each
        big_task = asyncio.create_task(batcher.predict(big))
        await asyncio.sleep(0)  # the big request is queued first
        _, small_out = await batcher.predict([Input(text=TEXTS[0])])
        assert not big_task.done()  # the small request did not wait for the whole big one
        served, big_out = await big_task
        await batcher.stop()
    assert small_out == adapter.predict([TEXTS[0]])
    assert big_out == adapter.predict([i.text for i in big]) and served.version == toy.v1
    assert max(sizes) <= 4 and sum(sizes) == 41


async def test_a_sliced_request_is_answered_by_one_version_across_a_swap(toy: Toy) -> None:
    slot = _slot(toy)
    first = slot.get()
    second = toy.registry.load_adapter(toy.model, toy.v2)
    swapped = False

    def swap_after_first_batch(size: int) -> None:
        nonlocal swapped
        if not swapped:
            swapped = True
            slot.swap(ServedModel(name=toy.model, version=toy.v2, task=second.task, adapter=second), kind="release")

    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool, max_batch=2)
        batcher.listeners.append(swap_after_first_batch)
        await batcher.start()
        texts = [TEXTS[i % 4] for i in range(9)]
        served, outputs = await batcher.predict([Input(text=t) for t in texts])
        later, _ = await batcher.predict([Input(text=TEXTS[0])])
        await batcher.stop()
    assert served.version == toy.v1 and outputs == first.adapter.predict(texts)
    assert later.version == toy.v2


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


class _Slow:
    """A model whose forward pass takes a fixed wall time, whatever the batch."""

    task = "classification"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, texts):
        import time

        time.sleep(self.seconds)
        return [Output(label="ok") for _ in texts]


async def _closed_loop(batcher: MicroBatcher, clients: int, rounds: int, think: float) -> None:
    """``clients`` callers; caller k sends its next request ``k * think`` seconds after its answer."""

    async def client(k: int) -> None:
        for _ in range(rounds):
            await batcher.predict([Input(text="a")])
            await asyncio.sleep(k * think)

    await asyncio.gather(*(client(k) for k in range(clients)))


@pytest.mark.parametrize("load_wait_ms", [0.0, 200.0])
async def test_under_load_a_batch_waits_for_the_clients_on_their_way(load_wait_ms: float) -> None:
    slot = ModelSlot()
    slot.swap(ServedModel(name="m", version="sha256-aaaaaaaaaaaa", task="classification", adapter=_Slow(0.02)),
              kind="initial")
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool, max_batch=32, load_wait_ms=load_wait_ms)
        batcher.listeners.append(sizes.append)
        await batcher.start()
        await _closed_loop(batcher, 8, 12, think=0.002)  # the next requests come back 0 to 14 ms apart
        await batcher.stop()
    full = sum(size == 8 for size in sizes[2:])
    if load_wait_ms:  # the clients that were just answered are waited for: one batch of 8 a round
        assert full >= len(sizes[2:]) - 1, sizes
    else:  # without the wait, a batch starts with whoever queued during the last one
        assert full < len(sizes[2:]), sizes


async def test_a_lone_client_never_waits_for_company() -> None:
    slot = ModelSlot()
    slot.swap(ServedModel(name="m", version="sha256-aaaaaaaaaaaa", task="classification", adapter=_Slow(0.0)),
              kind="initial")
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slot, pool, load_wait_ms=5_000.0)
        await batcher.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _closed_loop(batcher, 1, 20, think=0.0)
        elapsed = loop.time() - started
        await batcher.stop()
    assert elapsed < 5.0  # 20 requests; a single wait for company would take 5 s

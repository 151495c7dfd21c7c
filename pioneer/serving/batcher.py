"""Micro-batching: requests that arrive while the model is busy are answered together in one forward pass.

Why: an encoder on a CPU answers 32 short texts in a few times the time it takes for one, so under load
batching multiplies throughput, and at low load it costs nothing (a lone request runs at once; ``max_wait_ms``
is 0 by default, so batches form only from requests that queued while the previous batch ran).

Each batch reads the :class:`~pioneer.serving.slot.ModelSlot` once, so every request in it is answered by
the same model version, and reports that version. Inference runs in an executor (a thread pool), so the event
loop keeps accepting requests, shipping logs and following releases while the model computes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from pioneer.events import Input, Output
from pioneer.serving.inference import run_inputs
from pioneer.serving.slot import ModelSlot, ServedModel

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    inputs: Sequence[Input]
    future: asyncio.Future[tuple[ServedModel, list[Output]]]
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    inputs: int = 0
    largest: int = 0


class MicroBatcher:
    """Answers :meth:`predict` calls, batching those that wait together.

    Parameters
    ----------
    slot
        Where the serving model is read from (once per batch).
    executor
        Runs the model; one thread is right for one CPU-bound model (torch uses several cores itself).
    max_batch
        Most inputs in one forward pass. A single request with more inputs runs alone, whole.
    max_wait_ms
        How long the first request of a batch may wait for company (0: never wait).
    workers
        Batches computed at once (more than one only helps when the executor has threads to match).
    """

    def __init__(
        self,
        slot: ModelSlot,
        executor: Executor,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        workers: int = 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch!r} must be ≥ 1")
        self.slot = slot
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.workers = workers
        self.stats = BatchStats()
        self.listeners: list[Callable[[int], None]] = []
        """Told the size of each batch run (metrics)."""
        self._queue: asyncio.Queue[_Job] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._carry: deque[_Job] = deque()  # jobs that did not fit their batch: first in the next one

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._run(), name=f"micro-batcher-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._queue is not None:
            while not self._queue.empty():
                self._carry.append(self._queue.get_nowait())
            while self._carry:
                job = self._carry.popleft()
                if not job.future.done():
                    job.future.set_exception(RuntimeError("server is shutting down"))

    @property
    def queued(self) -> int:
        """Requests waiting for the model."""
        return 0 if self._queue is None else self._queue.qsize()

    async def predict(self, inputs: Sequence[Input]) -> tuple[ServedModel, list[Output]]:
        """The outputs for ``inputs`` and the model version that computed them.

        Raises :class:`~pioneer.serving.slot.ModelNotReady` at once when no model is loaded (nothing queues
        for a model that may never come).
        """
        self.slot.get()
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        future: asyncio.Future[tuple[ServedModel, list[Output]]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(inputs, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            try:
                served = self.slot.get()
                flat = [item for job in jobs for item in job.inputs]
                outputs = await loop.run_in_executor(self.executor, run_inputs, served.adapter, flat)
            except asyncio.CancelledError:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError("server is shutting down"))
                raise
            except Exception as exc:  # noqa: BLE001 - the requests get the error; the batcher keeps serving
                log.exception("inference failed", extra={"batch": len(jobs)})
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.inputs += len(flat)
            self.stats.largest = max(self.stats.largest, len(flat))
            for listener in self.listeners:
                listener(len(flat))
            position = 0
            for job in jobs:
                part = outputs[position : position + len(job.inputs)]
                position += len(job.inputs)
                if not job.future.done():  # the client may have gone away
                    job.future.set_result((served, part))

    async def _collect(self) -> list[_Job]:
        """The next batch: the first waiting job, then whatever else is queued, up to ``max_batch`` inputs."""
        assert self._queue is not None
        first = self._carry.popleft() if self._carry else await self._queue.get()
        while first.future.done():  # its client went away while it waited
            first = self._carry.popleft() if self._carry else await self._queue.get()
        jobs = [first]
        size = len(first.inputs)
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if job.future.done():  # cancelled while queued
                continue
            if size + len(job.inputs) > self.max_batch:
                self._carry.append(job)
                break
            jobs.append(job)
            size += len(job.inputs)
        return jobs

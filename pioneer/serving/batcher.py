"""Micro-batching: requests that arrive while the model is busy are answered together in one forward pass.

Why: an encoder on a CPU answers 32 short texts in a few times the time it takes for one, so under load
batching multiplies throughput, and at low load it costs nothing (a lone request runs at once; ``max_wait_ms``
is 0 by default, so batches form only from requests that queued while the previous batch ran).

Under load a batch may wait a little (``load_wait_ms``) for requests the server has just seen: when more requests
were waiting for the model during the last forward pass than have queued now, the rest are clients whose answers
just went out and who are sending their next request. Without the wait, 8 closed-loop clients settle into two
alternating batches of 4, which costs about a third more CPU per input than one batch of 8
(docs/serving-speed.md). A lone request never waits.

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
    done: int = 0
    """Inputs answered so far (a large request is answered in slices)."""
    outputs: list[Output] = field(default_factory=list)
    served: ServedModel | None = None
    """The version that answered its first slice, which answers the rest too."""


@dataclass(slots=True)
class _Slice:
    job: _Job
    start: int
    end: int


def _chars(item: Input) -> int:
    return len(item.text) + len(item.system_prompt or "")


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
        Most inputs in one forward pass. A request with more is answered in slices, and requests that arrive
        meanwhile are answered between its slices (all its slices are answered by the version of its first).
    max_batch_chars
        Most characters (texts and system prompts) in one forward pass, so that one request of long texts
        cannot hold the model for long: a pass always takes at least one input.
    max_wait_ms
        How long the first request of a batch may wait for company (0: never wait).
    load_wait_ms
        How long a batch may wait for the requests the recent load says are coming: only while it holds fewer
        requests than were waiting for the model at once since the previous batch started.
    workers
        Batches computed at once (more than one only helps when the executor has threads to match).
    """

    def __init__(
        self,
        slot: ModelSlot,
        executor: Executor,
        *,
        max_batch: int = 32,
        max_batch_chars: int = 65_536,
        max_wait_ms: float = 0.0,
        load_wait_ms: float = 0.0,
        workers: int = 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch!r} must be ≥ 1")
        if max_batch_chars < 1:
            raise ValueError(f"max_batch_chars={max_batch_chars!r} must be ≥ 1")
        self.slot = slot
        self.executor = executor
        self.max_batch = max_batch
        self.max_batch_chars = max_batch_chars
        self.max_wait = max_wait_ms / 1000.0
        self.load_wait = load_wait_ms / 1000.0
        self.workers = workers
        self.stats = BatchStats()
        self.listeners: list[Callable[[int], None]] = []
        """Told the size of each batch run (metrics)."""
        self._queue: asyncio.Queue[_Job] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._carry: deque[_Job] = deque()  # jobs that did not fit their batch: first in the next one
        self._unfinished: deque[_Job] = deque()  # jobs with slices left: after the jobs that came meanwhile
        self._waiting = 0  # predict() calls waiting for the model now
        self._peak = 0  # most of them at once since the last batch started: how many the next batch may expect

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
            while self._carry or self._unfinished:
                job = self._carry.popleft() if self._carry else self._unfinished.popleft()
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
        self._waiting += 1
        self._peak = max(self._peak, self._waiting)
        try:
            return await future
        finally:
            self._waiting -= 1

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            slices = await self._collect()
            self._peak = self._waiting
            try:
                current = self.slot.get()
                for job in {id(piece.job): piece.job for piece in slices}.values():
                    job.served = job.served or current
                groups: dict[int, list[_Slice]] = {}  # by version: a job started before a swap keeps its own
                for piece in slices:
                    groups.setdefault(id(piece.job.served), []).append(piece)
                answered: list[tuple[_Slice, list[Output]]] = []
                for group in groups.values():
                    flat = [item for piece in group for item in piece.job.inputs[piece.start : piece.end]]
                    served = group[0].job.served
                    assert served is not None
                    outputs = await loop.run_in_executor(self.executor, run_inputs, served.adapter, flat)
                    position = 0
                    for piece in group:
                        answered.append((piece, outputs[position : position + piece.end - piece.start]))
                        position += piece.end - piece.start
            except asyncio.CancelledError:
                for piece in slices:
                    if not piece.job.future.done():
                        piece.job.future.set_exception(RuntimeError("server is shutting down"))
                raise
            except Exception as exc:  # the requests get the error; the batcher keeps serving
                log.exception("inference failed", extra={"batch": len(slices)})
                for piece in slices:
                    if not piece.job.future.done():
                        piece.job.future.set_exception(exc)
                continue
            size = sum(piece.end - piece.start for piece in slices)
            self.stats.batches += 1
            self.stats.inputs += size
            self.stats.largest = max(self.stats.largest, size)
            for listener in self.listeners:
                listener(size)
            for piece, part in answered:
                job = piece.job
                job.outputs.extend(part)
                job.done = piece.end
                if job.future.done():  # the client went away
                    continue
                if job.done == len(job.inputs):
                    assert job.served is not None
                    job.future.set_result((job.served, job.outputs))
                else:
                    self._unfinished.append(job)

    async def _collect(self) -> list[_Slice]:
        """The next batch: the first waiting job, then whatever else is queued, up to ``max_batch`` inputs and
        ``max_batch_chars`` characters; unfinished jobs go after the jobs that arrived while their slice ran."""
        assert self._queue is not None
        while not self._queue.empty():
            self._carry.append(self._queue.get_nowait())
        self._carry.extend(self._unfinished)
        self._unfinished.clear()
        first = self._carry.popleft() if self._carry else await self._queue.get()
        while first.future.done():  # its client went away while it waited
            first = self._carry.popleft() if self._carry else await self._queue.get()
        slices: list[_Slice] = []
        size = chars = 0
        started = time.perf_counter()
        deadline, load_deadline = started + self.max_wait, started + self.load_wait
        expected = self._peak  # requests seen waiting at once: the ones not queued yet are on their way
        job: _Job | None = first
        while job is not None:
            end = job.done
            while end < len(job.inputs) and size < self.max_batch:
                cost = _chars(job.inputs[end])
                if size and chars + cost > self.max_batch_chars:
                    break
                size, chars, end = size + 1, chars + cost, end + 1
            if end > job.done:
                slices.append(_Slice(job, job.done, end))
            if end < len(job.inputs):  # the rest waits: _run puts a sliced job back once its slice is answered
                if end == job.done:
                    self._carry.appendleft(job)
                break
            if size >= self.max_batch:
                break
            company = len(slices) < expected and load_deadline > deadline
            job = await self._next_waiting(load_deadline if company else deadline)
        return slices

    async def _next_waiting(self, deadline: float) -> _Job | None:
        """The next job still wanted, waiting until ``deadline`` at most; None when there is none."""
        assert self._queue is not None
        while True:
            if self._carry:
                job = self._carry.popleft()
            else:
                try:
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        return None
                    try:
                        job = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        return None
            if not job.future.done():  # else: cancelled while queued
                return job

"""The judge worker: inference logs in, judge labels out, and judge/human agreement on the side.

Each consumed log is offered to a :class:`~pioneer.judging.StratifiedSampler`; a sampled log goes to the
judge (in a thread, ``concurrency`` at a time, each call bounded by ``timeout``), and its verdict is published
as a ``label`` event with ``source="judge"``, the judge's name and score (and its correction, where it wrote one). Offsets are committed after the
batch's labels are acknowledged (at-least-once; a label's id is derived from the log and the judge, so a
replay produces the same label, which the join drops as a duplicate).

A judge that raises, answers garbage or times out costs that one log its label, nothing more: the log is
dead-lettered with the reason (so it can be judged again) and counted, and the worker goes on. A log the
judge has no reference for (``unjudgeable``) is only counted.

Each log also feeds a :class:`~pioneer.judging.DriftWatch` (its stratum, its confidence where the prediction
carries scores, its input embedding: the one its metadata carries as ``embedding``, else its text embedded by the
worker's ``embedder``, batch by batch): a stratum whose unlabelled traffic drifted is sampled more often for a
while. Drift never asks for a retrain.

Beside the logs the worker reads the labeled traces of human labels and compares them with the verdicts it
gave (:class:`~pioneer.judging.AgreementTracker`), exporting the agreement per model and judge.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from aiokafka import ConsumerRecord, TopicPartition

from pioneer.embedding import Embedder
from pioneer.events import InferenceLog, Label, LabeledTrace
from pioneer.judging import (
    AgreementTracker,
    CallBudget,
    DriftWatch,
    Judge,
    JudgeError,
    StratifiedSampler,
    Verdict,
)
from pioneer.judging.labels import judge_label, label_id  # noqa: F401 - label_id: the worker's public name too
from streams.io import EventPublisher, EventReader
from streams.judge.config import JudgeConfig
from streams.judge.metrics import JudgeMetrics
from streams.kafka import KafkaSettings

log = logging.getLogger(__name__)


class JudgeWorker:
    """One member of the judge's consumer group (see the module docstring)."""

    def __init__(
        self,
        settings: KafkaSettings,
        publisher: EventPublisher,
        judge: Judge,
        sampler: StratifiedSampler,
        *,
        config: JudgeConfig | None = None,
        metrics: JudgeMetrics | None = None,
        agreement: AgreementTracker | None = None,
        drift: DriftWatch | None = None,
        embedder: Embedder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.judge = judge
        self.sampler = sampler
        self.config = config or JudgeConfig()
        self.metrics = metrics or JudgeMetrics()
        self.agreement = agreement or AgreementTracker()
        self.drift = drift
        self.embedder = embedder
        self.clock = clock
        catalogue = settings.catalogue
        self.logs_topic = catalogue.by_event_type("inference_log").name
        self.traces_topic = catalogue.by_event_type("labeled_trace").name
        group = f"{settings.topic_prefix}{self.config.group_id}"  # one group per deployment, as the other workers
        self.reader = EventReader(settings, [self.logs_topic], group_id=group, publisher=publisher,
                                  name=self.config.group_id, metrics=self.metrics)
        # A dedicated pool: a judge that hangs past its timeout holds these threads, never the loop's default pool.
        self._executor = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="judge")
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self.batches_done = 0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Judge logs and watch human traces until ``stop`` is set (or forever)."""
        stop = stop or asyncio.Event()
        humans = asyncio.create_task(self._read_human_traces(stop))
        await self.reader.start()
        try:
            while not stop.is_set():
                fetched = await self.reader.consumer.getmany(timeout_ms=200, max_records=self.config.batch)
                await self.process(fetched)
        finally:
            humans.cancel()
            await asyncio.gather(humans, return_exceptions=True)
            await self.reader.stop()
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def process(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Sample and judge one batch, publish its labels and dead letters, then commit it."""
        if not fetched:
            return
        logs: list[tuple[ConsumerRecord, InferenceLog]] = []
        for tp, records in fetched.items():
            self.metrics.events_in.labels(tp.topic).inc(len(records))
            for record in records:
                event = await self.reader.decode(record)
                if isinstance(event, InferenceLog):
                    logs.append((record, event))
        embeddings = await self._embeddings([event for _, event in logs])
        calls = [self._judge_one(record, event) for (record, event), embedding in zip(logs, embeddings, strict=True)
                 if self._wanted(event, embedding)]
        labels = [label for label in await asyncio.gather(*calls) if label is not None]
        for label in labels:
            await self.publisher.send(label)
        await self.reader.commit()
        self.batches_done += 1

    async def _embeddings(self, events: list[InferenceLog]) -> list[np.ndarray | None]:
        """Each log's input embedding for the drift watch: its metadata's, else its text embedded (in one batch)."""
        vectors = [embedding_of(event) for event in events]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if self.drift is None or self.embedder is None or not missing:
            return vectors
        try:
            embedded = await asyncio.to_thread(self.embedder.encode, [events[i].input.text for i in missing])
        except Exception:  # an encoder that fails costs the watch its input signal for this batch, never a log
            log.exception("could not embed the batch's inputs; the drift watch sees confidence and novelty only")
            return vectors
        for i, vector in zip(missing, embedded, strict=True):
            vectors[i] = vector.astype(np.float64)
        return vectors

    def _wanted(self, event: InferenceLog, embedding: np.ndarray | None) -> bool:
        if self.drift is not None:
            alarm = self.drift.observe(self.sampler.key(event), embedding, confidence_of(event))
            if alarm is not None:
                self.metrics.drift_alarms.labels(event.model.name, alarm.signal).inc()
                log.info("drift: sampling the region more", extra={"model": event.model.name, "region": alarm.region,
                                                                   "signal": alarm.signal,
                                                                   "statistic": round(alarm.statistic, 2)})
        refused_before = self.sampler.refused_by_budget
        wanted = self.sampler.offer(event)
        decision = "judge" if wanted else ("budget" if self.sampler.refused_by_budget > refused_before else "skip")
        self.metrics.sampled.labels(event.model.name, decision).inc()
        return wanted

    async def _judge_one(self, record: ConsumerRecord, event: InferenceLog) -> Label | None:
        """The judge's label for ``event``, or None after counting (and dead-lettering) why there is none."""
        loop = asyncio.get_running_loop()
        running = asyncio.Event()

        def call_judge() -> Verdict:
            loop.call_soon_threadsafe(running.set)
            return self.judge.judge(event)

        async with self._slots:
            started = time.perf_counter()
            try:
                call = loop.run_in_executor(self._executor, call_judge)
                # The timeout is the judge's own time: a call queued behind a hung thread has not started yet.
                await asyncio.wait({call, asyncio.ensure_future(running.wait())}, return_when=asyncio.FIRST_COMPLETED)
                started = time.perf_counter()
                verdict = await asyncio.wait_for(call, self.config.timeout)
            except TimeoutError:
                return await self._skip(record, event, "timeout", f"no verdict within {self.config.timeout:g} s")
            except JudgeError as exc:
                return await self._skip(record, event, exc.kind, str(exc))
            except Exception as exc:  # noqa: BLE001 - a faulty judge costs one log its label, never the worker
                return await self._skip(record, event, "error", f"{type(exc).__name__}: {exc}")
            finally:
                self.metrics.call_seconds.labels(self.judge.name).observe(time.perf_counter() - started)
        self.metrics.verdicts.labels(event.model.name, verdict.judge, verdict.verdict).inc()
        self.sampler.record(self.sampler.key(event), failed=verdict.verdict == "fail")
        self._count_pair(self.agreement.judged(event.request_id, event.model.name, verdict.judge, verdict.verdict))
        return judge_label(event, verdict, self.clock())

    async def _skip(self, record: ConsumerRecord, event: InferenceLog, reason: str, detail: str) -> None:
        self.metrics.skipped.labels(event.model.name, reason).inc()
        if reason != "unjudgeable":  # no reference is expected, not a fault: nothing to judge again
            await self.reader.dead_letter(record, "processing", f"judge {self.judge.name} gave no verdict ({reason}): {detail}")

    async def _read_human_traces(self, stop: asyncio.Event) -> None:
        """Feed human outcomes to the agreement tracker (every worker reads every trace: no group)."""
        reader = EventReader(self.settings, [self.traces_topic], group_id=None, publisher=self.publisher,
                             name=f"{self.config.group_id}-agreement", metrics=self.metrics)
        await reader.start()
        try:
            while not stop.is_set():
                fetched = await reader.consumer.getmany(timeout_ms=500, max_records=1000)
                for records in fetched.values():
                    for record in records:
                        trace = await _decode_quietly(reader, record)
                        if isinstance(trace, LabeledTrace) and trace.source == "human":
                            self._count_pair(self.agreement.human(trace.request_id, trace.model.name, trace.outcome))
        finally:
            await reader.stop()

    def _count_pair(self, pair: tuple[str, str, bool] | None) -> None:
        if pair is None:
            return
        model, judge, agreed = pair
        self.metrics.agreement_pairs.labels(model, judge, str(agreed).lower()).inc()
        self.metrics.agreement.labels(model, judge).set(self.agreement.rate(model, judge) or 0.0)


async def _decode_quietly(reader: EventReader, record: ConsumerRecord) -> object:
    # Traces are the monitor's output: a bad one is the trace consumers' to dead-letter, not ours.
    try:
        return reader.codec.decode(record.value)
    except Exception:  # noqa: BLE001
        return None


def build_sampler(config: JudgeConfig, clock: Callable[[], float] = time.time,
                  drift: DriftWatch | None = None) -> StratifiedSampler:
    budget = CallBudget(per_second=config.per_second, per_day=config.per_day, burst=config.burst, clock=clock)
    return StratifiedSampler(rate=config.rate, seed=config.seed, budget=budget,
                             boost=drift.boost if drift is not None else None)


MAX_EMBEDDING = 4096
"""Longest embedding read from a log's metadata (a longer one is ignored, as is one that is not numbers)."""


def embedding_of(event: InferenceLog) -> np.ndarray | None:
    """The input embedding a log's metadata carries (``embedding``: a list of finite numbers), else None."""
    value = (event.metadata or {}).get("embedding")
    if not isinstance(value, list) or not 0 < len(value) <= MAX_EMBEDDING:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    vector = np.asarray(value, dtype=np.float64)
    return vector if np.isfinite(vector).all() else None


def confidence_of(event: InferenceLog) -> float | None:
    """The model's probability for its own answer, where the prediction carries scores."""
    scores = event.prediction.scores
    if not scores:
        return None
    top = max(scores.values())
    return float(top) if 0.0 <= top <= 1.0 else None


def run_judge(settings: KafkaSettings, config: JudgeConfig, judge: Judge) -> None:
    """Run one judge worker until SIGINT or SIGTERM; it finishes its batch first."""

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        metrics = JudgeMetrics()
        if config.metrics_port:
            metrics.serve(config.metrics_port)
        async with EventPublisher(settings, metrics=metrics) as publisher:
            drift = DriftWatch(factor=config.drift_boost) if config.drift_boost > 1 else None
            embedder = Embedder() if drift is not None and config.embed_inputs else None
            worker = JudgeWorker(settings, publisher, judge, build_sampler(config, drift=drift), config=config,
                                 metrics=metrics, drift=drift, embedder=embedder)
            await worker.run(stop)

    asyncio.run(until_signalled())

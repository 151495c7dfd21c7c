"""Ingest-and-join throughput of the monitor against a plain aiokafka pass-through, same topics, same run.

Produces N inference logs and N labels (keyed by request id, labels lagging their logs) into fresh topics,
then measures, each consuming everything from the start in its own consumer group:

  pass-through  plain aiokafka: consume each event, decode it (orjson + schema validation, as the monitor
                does), produce it to another topic; commit per batch. No Faust.
  monitor join  pioneer's JoinWorker: consume, decode, join by request id, emit labeled traces, write the
                join-state changelog, commit per batch.

Rates are input events (logs + labels) per second.

    python scripts/bench_join.py --pairs 100000                # embedded Tansu broker
    python scripts/bench_join.py --pairs 100000 --engine kafka # Apache Kafka
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pioneer.events import EventCodec, InferenceLog, Input, Label, ModelRef, Output
from pioneer.settings import Paths
from streams.admin import ensure_topics
from streams.brokers import ApacheKafkaBroker, TansuBroker, free_port
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from streams.monitor.join import JoinWorker
from streams.monitor.metrics import MonitorMetrics

INTENTS = ["transfer", "balance", "pay_bill", "card_lost", "freeze_account", "interest_rate"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100_000, help="inference logs (and as many labels)")
    parser.add_argument("--engine", choices=["tansu", "kafka"], default="tansu")
    parser.add_argument("--broker", default=None, help="use this running broker instead of starting one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default="pass-through,join", help="which stages to run (for profiling one)")
    return parser


def make_traffic(pairs: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    """(topic kind, key, value) in send order: each label follows its log by a random lag."""
    rng = random.Random(seed)
    codec = EventCodec()
    order: list[tuple[float, str, bytes, bytes]] = []
    for i in range(pairs):
        request_id = f"req-{i:08d}"
        predicted, expected = rng.choice(INTENTS), rng.choice(INTENTS) if rng.random() < 0.1 else None
        log = InferenceLog(
            event_id=f"log-{i}", timestamp=1e9 + i, request_id=request_id,
            model=ModelRef(name="bench-intents", version="sha256-000000000000"), task="classification",
            input=Input(text=f"please help me with my account request number {i}"),
            prediction=Output(label=predicted, scores={predicted: 0.7}), latency_ms=3.0,
        )
        label = Label(
            event_id=f"label-{i}", timestamp=1e9 + i + 5, request_id=request_id, source="human",
            expected=Output(label=expected or predicted),
        )
        order.append((i, "logs", request_id.encode(), codec.encode(log)))
        order.append((i + rng.uniform(0, 200), "labels", request_id.encode(), codec.encode(label)))
    order.sort(key=lambda item: item[0])
    return [(kind, key, value) for _, kind, key, value in order]


async def produce(settings: KafkaSettings, traffic: list[tuple[str, bytes, bytes]]) -> None:
    topics = {"logs": settings.topic("inference_log"), "labels": settings.topic("label")}
    producer = AIOKafkaProducer(**settings.producer_kwargs())
    await producer.start()
    try:
        futures = [await producer.send(topics[kind], value, key=key) for kind, key, value in traffic]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def pass_through(settings: KafkaSettings, total: int) -> float:
    codec = EventCodec()
    out_topic = f"{settings.topic_prefix}passthrough-out"
    consumer = AIOKafkaConsumer(
        settings.topic("inference_log"), settings.topic("label"), **settings.consumer_kwargs("bench-passthrough")
    )
    producer = AIOKafkaProducer(**settings.producer_kwargs())
    await consumer.start()
    await producer.start()
    seen, start = 0, None
    try:
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=500, max_records=5000)
            start = start or time.perf_counter()
            futures = []
            for records in fetched.values():
                for record in records:
                    codec.decode(record.value)
                    futures.append(await producer.send(out_topic, record.value, key=record.key))
                seen += len(records)
            await asyncio.gather(*futures)
            await consumer.commit()
        return seen / (time.perf_counter() - start)
    finally:
        await consumer.stop()
        await producer.stop()


async def monitor_join(settings: KafkaSettings, total: int) -> tuple[float, MonitorMetrics]:
    metrics = MonitorMetrics()
    async with EventPublisher(settings, metrics=metrics) as publisher:
        worker = JoinWorker(settings, publisher, metrics=metrics, group_id="bench-join", window=3600)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        start = None
        while True:
            await asyncio.sleep(0.05)
            done = worker.stats.logs + worker.stats.labels + worker.stats.duplicates
            if start is None and done:
                start = time.perf_counter() - 0.05
            if done >= total:
                break
        rate = done / (time.perf_counter() - start)
        stop.set()
        await task
    return rate, metrics


def main(args: argparse.Namespace) -> None:
    broker = None
    if args.broker is None:
        broker = (
            TansuBroker(port=free_port())
            if args.engine == "tansu"
            else ApacheKafkaBroker(port=free_port(), data_dir=Path(tempfile.mkdtemp()), cache_dir=Paths.from_env().cache)
        )
        broker.start()
    try:
        settings = KafkaSettings(bootstrap_servers=args.broker or broker.bootstrap, topic_prefix=f"bj{uuid.uuid4().hex[:6]}.")
        asyncio.run(ensure_topics(settings))
        traffic = make_traffic(args.pairs, args.seed)
        asyncio.run(produce(settings, traffic))
        total = len(traffic)
        stages = args.stages.split(",")
        passthrough_rate = asyncio.run(pass_through(settings, total)) if "pass-through" in stages else float("nan")
        join_rate, metrics = asyncio.run(monitor_join(settings, total)) if "join" in stages else (float("nan"), MonitorMetrics())
    finally:
        if broker:
            broker.stop()
    joined = metrics.value("pioneer_join_events_total", kind="joined")
    print(f"\n{total:,} input events ({args.pairs:,} logs + {args.pairs:,} labels) on {args.engine}")
    print(f"{'stage':14} {'events/s':>10}")
    print(f"{'pass-through':14} {passthrough_rate:10,.0f}")
    print(f"{'monitor join':14} {join_rate:10,.0f}   ({join_rate / passthrough_rate:.0%} of pass-through; {joined:,.0f} traces)")


if __name__ == "__main__":
    main(make_parser().parse_args())

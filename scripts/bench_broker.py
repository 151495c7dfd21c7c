"""Produce/consume throughput of each broker engine, through Pioneer's own publisher and reader.

For each engine: start a broker (or use --kafka/--tansu addresses), then
  produce  N inference-log events with EventPublisher (encode + validate + send, acks=all),
  consume  them with EventReader in one group (decode + validate, commit per batch).
Prints events/s for each, and the broker's start time.

    python scripts/bench_broker.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.settings import Paths
from streams.admin import ensure_topics
from streams.brokers import ApacheKafkaBroker, LocalBroker, TansuBroker, free_port
from streams.io import EventPublisher, EventReader
from streams.kafka import KafkaSettings


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events per engine")
    parser.add_argument("--engines", default="tansu,kafka", help="comma-separated engines to measure")
    parser.add_argument("--kafka", default=None, help="use this running Apache Kafka instead of starting one")
    parser.add_argument("--tansu", default=None, help="use this running Tansu instead of starting one")
    return parser


def _events(n: int) -> list[InferenceLog]:
    return [
        InferenceLog(
            event_id=f"bench-{i}",
            timestamp=1_764_000_000.0 + i,
            request_id=f"req-{i}",
            model=ModelRef(name="bench-model", version="sha256-0000"),
            task="classification",
            input=Input(text=f"how do i move money to my savings account number {i}"),
            prediction=Output(label="transfer", scores={"transfer": 0.8, "balance": 0.2}),
            latency_ms=3.2,
        )
        for i in range(n)
    ]


async def measure(bootstrap: str, events: list[InferenceLog]) -> tuple[float, float]:
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings)
    topic = settings.topic("inference_log")
    async with EventPublisher(settings) as publisher:
        start = time.perf_counter()
        await publisher.publish(events)
        produce_rate = len(events) / (time.perf_counter() - start)
        reader = EventReader(settings, [topic], group_id="bench", publisher=publisher, name="bench")
        async with reader:
            consumed = 0
            start = None
            async for batch in reader.batches(max_records=5000, timeout_ms=1000):
                start = start or time.perf_counter()
                consumed += len(batch)
                await reader.commit()
                if consumed >= len(events):
                    break
            consume_rate = consumed / (time.perf_counter() - start)
    return produce_rate, consume_rate


def start_broker(engine: str) -> LocalBroker:
    if engine == "tansu":
        return TansuBroker(port=free_port())
    return ApacheKafkaBroker(port=free_port(), data_dir=Path(tempfile.mkdtemp()) / "kafka", cache_dir=Paths.from_env().cache)


def main(args: argparse.Namespace) -> None:
    events = _events(args.events)
    rows = []
    for engine in args.engines.split(","):
        given = getattr(args, engine)
        broker = None if given else start_broker(engine)
        started = broker.start() if broker else float("nan")
        try:
            produce, consume = asyncio.run(measure(given or broker.bootstrap, events))
        finally:
            if broker:
                broker.stop()
        rows.append((engine, started, produce, consume))
    print(f"\n{args.events:,} inference-log events per engine (EventPublisher / EventReader, validated both ways)")
    print(f"{'engine':8} {'start s':>8} {'produce ev/s':>13} {'consume ev/s':>13}")
    for engine, started, produce, consume in rows:
        print(f"{engine:8} {started:8.2f} {produce:13,.0f} {consume:13,.0f}")


if __name__ == "__main__":
    main(make_parser().parse_args())

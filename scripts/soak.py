"""Soak run (not in CI): N inference logs and their labels through join → monitor on Apache Kafka, optionally
killing and restarting the monitor worker (SIGKILL) and the broker mid-run, then reconciling every log.

Logs come from a load generator that writes them as the serving shipper does (keyed by request id, one
``inference_log`` event each); a share of them gets no label (they must expire), a share is answered wrongly
(failures the pattern stage embeds), and a few undecodable records go on the logs topic (dead letters).

Reconciliation: logs in = distinct traces + expired unlabeled + dead-lettered logs, and no request has two trace
ids. Printed while it runs: traces/s (from the topic's end offsets) and the worker's RSS.

    python scripts/soak.py --events 10000                  # against PIONEER_BROKER or PIONEER_TEST_KAFKA
    python scripts/soak.py --events 1000000 --kill-worker 0.5
    python scripts/soak.py --events 100000 --own-broker --restart-broker 0.5   # a broker of its own
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from pioneer.events import InferenceLog, Input, Label, ModelRef, Output
from pioneer.settings import Paths
from pioneer.synthetic import BankingTask
from streams.admin import ensure_topics
from streams.brokers import ApacheKafkaBroker, free_port
from streams.io import EventPublisher
from streams.kafka import KafkaSettings

MODEL = ModelRef(name="soak", version="sha256-000000000001")
CHUNK = 10_000


def make_parser(subparsers: argparse._SubParsersAction | None = None) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("soak") if subparsers else argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="Inference logs sent (each with a label unless unlabeled).")
    parser.add_argument("--unlabeled", type=float, default=0.02, help="Share of logs that never get a label.")
    parser.add_argument("--failing", type=float, default=0.1, help="Share of labels that disagree with the prediction.")
    parser.add_argument("--poison", type=int, default=10, help="Undecodable records put on the logs topic.")
    parser.add_argument("--window", type=float, default=20.0, help="Join window (s): unlabeled logs expire after it.")
    parser.add_argument("--kill-worker", type=float, default=None, help="SIGKILL the worker at this share of traces, start a successor.")
    parser.add_argument("--own-broker", action="store_true", help="Start an Apache Kafka broker of its own (needed to restart it).")
    parser.add_argument("--restart-broker", type=float, default=None, help="Stop and start the own broker at this share of traces.")
    parser.add_argument("--sample", type=float, default=5.0, help="Seconds between progress lines.")
    parser.add_argument("--timeout", type=float, default=3600.0, help="Give up after this many seconds.")
    return parser


def traffic(n: int, unlabeled: float, failing: float, seed: int = 0):
    """Chunks of (logs, labels): texts cycle through a synthetic banking set; ids are unique per run."""
    examples = BankingTask(seed=seed).usual(2000, stream="soak")
    unlabeled_every = round(1 / unlabeled) if unlabeled else 0
    failing_every = round(1 / failing) if failing else 0
    start = time.time()
    for first in range(0, n, CHUNK):
        logs, labels = [], []
        for i in range(first, min(n, first + CHUNK)):
            example = examples[i % len(examples)]
            logs.append(InferenceLog(event_id=f"log-{i}", timestamp=start + i / 1000, request_id=f"req-{i}", model=MODEL,
                                     task="classification", input=Input(text=example.text),
                                     prediction=Output(label=example.label), latency_ms=2.0))
            if unlabeled_every and i % unlabeled_every == 1:
                continue
            wrong = failing_every and i % failing_every == 0
            labels.append(Label(event_id=f"label-{i}", timestamp=start + i / 1000 + 1, request_id=f"req-{i}",
                                source="human", expected=Output(label="other" if wrong else example.label)))
        yield logs, labels


async def produce(settings: KafkaSettings, args: argparse.Namespace) -> tuple[int, int]:
    """Send everything; returns (logs, labels) sent."""
    logs_sent = labels_sent = 0
    async with EventPublisher(settings) as publisher:
        for logs, labels in traffic(args.events, args.unlabeled, args.failing):
            await publisher.send_many(logs)
            await publisher.send_many(labels)
            await publisher.flush()
            logs_sent, labels_sent = logs_sent + len(logs), labels_sent + len(labels)
        for i in range(args.poison):
            await publisher.send_raw(settings.topic("inference_log"), b'{"event_type": "inference_log", "trunc', f"bad-{i}".encode())
    return logs_sent, labels_sent


def start_worker(settings: KafkaSettings, home: Path, port: int, window: float, n: int) -> subprocess.Popen:
    env = dict(os.environ, PIONEER_HOME=str(home), PIONEER_BROKER=settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=settings.topic_prefix, HF_HUB_OFFLINE="1",
               PIONEER_MONITOR_GROUP_ID=f"{settings.topic_prefix}monitor", PIONEER_MONITOR_METRICS_PORT=str(port),
               PIONEER_MONITOR_JOIN_WINDOW=str(window), PIONEER_MONITOR_CHECKPOINT_INTERVAL="5")
    log = open(home / f"monitor-{n}.log", "wb")  # noqa: SIM115 - the worker writes it for its whole life
    return subprocess.Popen([sys.executable, "-m", "pioneer", "--log-format", "json", "monitor"], stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)


def scrape(port: int) -> dict[str, float] | None:
    """The worker's counters this soak reconciles (None when it cannot be reached)."""
    wanted = {'pioneer_join_events_total{kind="expired_unlabeled"}': "expired",
              'pioneer_join_events_total{kind="expired_orphan_label"}': "orphans"}
    figures = {"expired": 0.0, "orphans": 0.0}
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in wanted:
            figures[wanted[name]] += float(value)
    return figures


async def end_offsets(settings: KafkaSettings, event_type: str) -> int:
    """Records on the topic of ``event_type`` so far (the sum of its partitions' end offsets)."""
    spec = settings.catalogue.by_event_type(event_type)
    consumer = AIOKafkaConsumer(**settings.consumer_kwargs(None), request_timeout_ms=5000)
    await consumer.start()
    try:
        partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        consumer.assign(partitions)  # fetches the topic's metadata, which end_offsets needs
        return sum((await consumer.end_offsets(partitions)).values())
    except KafkaError:  # not created yet, or the broker is restarting
        return 0
    finally:
        await consumer.stop()


async def read_values(settings: KafkaSettings, event_type: str) -> list[dict]:
    """Every record on the topic of ``event_type`` (up to its end offsets when called), as JSON."""
    import orjson

    spec = settings.catalogue.by_event_type(event_type)
    partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
    consumer = AIOKafkaConsumer(**settings.consumer_kwargs(None))
    await consumer.start()
    values: list[dict] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                values.extend(orjson.loads(r.value) for r in batch)
    finally:
        await consumer.stop()
    return values


def rss_mb(process: subprocess.Popen) -> float:
    try:
        proc = psutil.Process(process.pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except psutil.Error:
        return 0.0


def main(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a kill stops the workers and the broker too, as Ctrl-C does
    home = Path(tempfile.mkdtemp(prefix="pioneer-soak-"))
    broker = None
    if args.own_broker:
        broker = ApacheKafkaBroker(data_dir=home / "kafka", port=free_port(), cache_dir=Paths.from_env().cache)
        broker.start()
        bootstrap = f"127.0.0.1:{broker.port}"
    else:
        bootstrap = os.environ.get("PIONEER_BROKER") or os.environ.get("PIONEER_TEST_KAFKA") or "127.0.0.1:9092"
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"soak{uuid.uuid4().hex[:8]}.")
    print(f"soak: {args.events} logs on {bootstrap}, topics {settings.topic_prefix}*, home {home}", flush=True)
    asyncio.run(ensure_topics(settings, settings.catalogue))

    began = time.monotonic()
    logs, labels = asyncio.run(produce(settings, args))
    produced = time.monotonic() - began
    print(f"produced {logs} logs + {labels} labels + {args.poison} poison in {produced:.1f} s "
          f"({(logs + labels) / produced:,.0f} events/s)", flush=True)

    port = free_port()
    incarnations = [start_worker(settings, home, port, args.window, 0)]
    try:
        return _watch(settings, args, home, port, incarnations, broker, logs, labels)
    finally:
        for worker in incarnations:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGINT)
                worker.wait(60)
        if broker is not None:
            broker.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _watch(settings: KafkaSettings, args: argparse.Namespace, home: Path, port: int, incarnations: list,
           broker: ApacheKafkaBroker | None, logs: int, labels: int) -> int:
    """Sample progress until every trace and expiry is in, killing/restarting on the way; then reconcile."""
    expected_traces, expected_expired = labels, logs - labels
    metrics_done: list[dict[str, float]] = []  # the last scrape of each killed worker
    last = {"expired": 0.0, "orphans": 0.0}
    t0, prev_t, prev_n = time.monotonic(), time.monotonic(), 0
    killed = restarted = False
    all_in: float | None = None  # seconds until every trace was on its topic
    print(f"{'t_s':>7} {'traces':>9} {'traces/s':>9} {'rss_mb':>8} {'expired':>8}", flush=True)
    while time.monotonic() - t0 < args.timeout:
        time.sleep(args.sample)
        n = asyncio.run(end_offsets(settings, "labeled_trace"))
        now = time.monotonic()
        last = scrape(port) or last
        worker = incarnations[-1]
        print(f"{now - t0:7.0f} {n:9d} {(n - prev_n) / (now - prev_t):9.0f} {rss_mb(worker):8.0f} "
              f"{sum(m['expired'] for m in metrics_done) + last['expired']:8.0f}", flush=True)
        prev_t, prev_n = now, n
        if n >= expected_traces and all_in is None:
            all_in = now - t0
        if args.kill_worker is not None and not killed and n >= args.kill_worker * expected_traces:
            metrics_done.append(last)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            incarnations.append(start_worker(settings, home, port, args.window, len(incarnations)))
            killed, last = True, {"expired": 0.0, "orphans": 0.0}
            print(f"killed the worker (SIGKILL) at {n} traces; started a successor", flush=True)
        if broker is not None and args.restart_broker is not None and not restarted and n >= args.restart_broker * expected_traces:
            broker.stop()
            broker.start()
            restarted = True
            print(f"restarted the broker at {n} traces", flush=True)
        expired = sum(m["expired"] for m in metrics_done) + last["expired"]
        if n >= expected_traces and expired >= expected_expired:
            break
    wall = time.monotonic() - t0
    worker = incarnations[-1]
    rss_end = rss_mb(worker)

    traces = asyncio.run(read_values(settings, "labeled_trace"))
    letters = [d for d in asyncio.run(read_values(settings, "dead_letter"))
               if d["source"]["topic"] == settings.topic("inference_log")]
    ids = {t["event_id"] for t in traces}
    by_request: dict[str, set[str]] = {}
    for t in traces:
        by_request.setdefault(t["request_id"], set()).add(t["event_id"])
    expired = sum(m["expired"] for m in metrics_done) + last["expired"]
    print(f"traces: {len(traces)} records, {len(ids)} distinct ids (expected {expected_traces}); "
          f"requests with two trace ids: {sum(len(v) > 1 for v in by_request.values())}")
    print(f"reconcile: logs in {logs + args.poison} = traces {len(by_request)} + expired {expired:.0f} "
          f"+ dead letters {len(letters)} -> {'OK' if len(by_request) + expired + len(letters) == logs + args.poison else 'MISMATCH'}"
          f"{' (expired summed over worker lives: approximate after a kill)' if killed else ''}")
    joined = f"{len(ids) / all_in:,.0f} traces/s (all in after {all_in:.0f} s)" if all_in else "not all traces came"
    print(f"throughput: {joined}; run {wall:.0f} s including the {args.window:.0f} s join window; "
          f"worker RSS at end {rss_end:.0f} MB")
    ok = len(ids) == expected_traces and all(len(v) == 1 for v in by_request.values()) and len(letters) == args.poison
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(make_parser().parse_args()))

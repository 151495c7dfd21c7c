"""Where a ``pioneer serve`` process spends its CPU under load: py-spy samples the server while closed-loop
clients call ``/v1/predict``, and the samples are summed into the parts of the request path.

Needs py-spy (``pip install py-spy``; it reads the server's memory, so it runs as root or with ptrace allowed).
Trains a tiny classifier as ``scripts/bench_serve.py`` does, serves it with inference logging to ``--broker``.

    python scripts/profile_serve.py --broker 127.0.0.1:9092 --concurrency 8 --duration 10
    python scripts/profile_serve.py --broker 127.0.0.1:9092 --raw profile.txt   # also keep the folded stacks
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from bench_serve import metric, queries, start_server, train_versions, wait_ready
from http_load import load

from streams.admin import ensure_topics
from streams.kafka import KafkaSettings

PARTS = [  # (part, a frame whose presence in a stack puts the sample there); the first match wins
    ("model: ONNX Runtime", "onnxruntime"),
    ("model: tokenizer", "tokenization_utils"),
    ("model: torch forward", "torch/nn/modules"),
    ("model: head and outputs", "classification.py"),
    ("logging: build and queue", "log_answers"),
    ("logging: ship to Kafka", "shipper.py"),
    ("logging: ship to Kafka", "aiokafka"),
    ("metrics", "prometheus_client"),
    ("HTTP: request validation (pydantic)", "pydantic"),
    ("HTTP: FastAPI routing and handler", "fastapi"),
    ("HTTP: starlette middleware", "starlette"),
    ("HTTP: uvicorn protocol", "uvicorn"),
    ("HTTP: uvicorn protocol", "h11"),
    ("micro-batcher and executor hand-off", "batcher.py"),
    ("micro-batcher and executor hand-off", "concurrent/futures"),
    ("event loop (selectors, callbacks)", "asyncio"),
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", required=True, help="a running Kafka or Tansu broker (host:port)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--raw", default=None, help="write py-spy's folded stacks here")
    parser.add_argument("--no-spy", action="store_true", help="only the CPU per request, without sampling")
    parser.add_argument("--serve-flag", action="append", default=[], help="extra flag for pioneer serve")
    return parser


def summarise(folded: str) -> list[tuple[str, float]]:
    """Share of the server's samples per part of the request path."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        part = next((name for name, frame in PARTS if frame in stack), "other")
        counts[part] += int(n)
    return [(part, n / max(1, total)) for part, n in counts.most_common()]


async def main(args: argparse.Namespace) -> None:
    spy = shutil.which("py-spy")
    if spy is None and not args.no_spy:
        raise SystemExit("py-spy is not on PATH: pip install py-spy")
    home = Path(tempfile.mkdtemp(prefix="profile-serve-"))
    os.environ["PIONEER_HOME"] = str(home)
    train_versions(home)
    settings = KafkaSettings(bootstrap_servers=args.broker, topic_prefix=f"profile{uuid.uuid4().hex[:8]}.")
    await ensure_topics(settings)  # else the server spills every log to disk while it waits for them
    env = {**os.environ, "PIONEER_HOME": str(home), "PIONEER_BROKER": args.broker,
           "PIONEER_TOPIC_PREFIX": settings.topic_prefix}
    server = start_server(env, *args.serve_flag)
    texts = [t for t, _ in queries(500, seed=7)]
    out = home / "folded.txt"
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await wait_ready(client, server)
            record = None if args.no_spy else await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(server.process.pid), "--threads", "--nonblocking", "--rate", str(args.rate),
                "--duration", str(int(args.duration)), "--format", "raw", "--output", str(out),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            run = await load(server.url, args.concurrency, 0.5, args.duration, texts, pid=server.process.pid)
            if record is not None:
                await record.wait()
            text = (await client.get("/metrics")).text
            batches = [metric(text, f"pioneer_serving_batch_inputs_{k}") for k in ("sum", "count")]
    finally:
        server.stop()
    folded = "" if args.no_spy else out.read_text()
    if args.raw:
        Path(args.raw).write_text(folded)
    summary = run.summary()
    print(f"{args.concurrency} clients: {summary['rps']:.1f} req/s, server CPU {summary['cpu_ms_per_request']:.2f} ms/request, "
          f"load generator CPU {summary['client_cpu_ms_per_request']:.2f} ms/request")
    print(f"  server main thread (event loop: HTTP, batching, logging, metrics) {summary['loop_cpu_ms_per_request']:.2f} "
          f"ms/request, other threads (model) {summary['cpu_ms_per_request'] - summary['loop_cpu_ms_per_request']:.2f}; "
          f"{batches[0] / max(1, batches[1]):.1f} inputs per forward pass")
    for part, share in summarise(folded) if folded else []:
        print(f"  {part:40} {share * 100:5.1f}%")


if __name__ == "__main__":
    asyncio.run(main(make_parser().parse_args()))

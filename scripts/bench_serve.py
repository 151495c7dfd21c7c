"""Serving latency and throughput of ``pioneer serve``, with and without inference logging, and hot-swap time.

Trains two tiny classifiers (the offline MiniLM encoder with a logistic-regression head, on generated intent
queries) into a temporary PIONEER_HOME, starts a broker (or uses ``--broker``), then runs ``pioneer serve`` as
its own process and loads it from this process with raw asyncio HTTP/1.1 clients:

  unloaded     one client, one request at a time: latency without queueing
  loaded       ``--concurrency`` clients, closed loop: latency under load and throughput (micro-batching on)

once with inference logging (every answer produces an inference-log event, shipped to Kafka in batches off the
request path) and once with ``--no-log-inferences``, alternating ``--repeats`` times so drift on a shared machine
hits both alike. It checks that every answer of the logging runs was acknowledged by Kafka (the server's
``pioneer_serving_events_sent_total``) and none dropped.

Then, with the logging server under load, it publishes a release of the second version and a rollback, and
reports the time from publishing to the first answer from the new version, the server-side swap time (load +
warm-up, from ``pioneer_serving_swap_seconds``) and any request that failed meanwhile.

    python scripts/bench_serve.py                       # Apache Kafka, 8 clients, 10 s per run
    python scripts/bench_serve.py --engine tansu --concurrency 16 --duration 20 --repeats 3
    python scripts/bench_serve.py --broker 127.0.0.1:9092

Last, in this process, it times the logging path alone: building and queueing one log (the request path),
and how many logs per second the shipper gets acknowledged, with its CPU cost per log.

First of all, in this process and before any server runs, it measures the ceiling: the raw encoder
(sentence-transformers ``encode``, one sentence per call and batches of ``--max-batch``), with torch limited to
``--threads`` threads like the server. The summary puts the server's figures beside it as ratios.

The load generator (:mod:`http_load`: raw asyncio HTTP/1.1 keep-alive connections and request bytes built
once) runs in this process; its CPU per request is printed beside the server's, since it shares the CPUs.

Figures on a shared CPU are noisy; report them with the command, the machine and the load average (printed);
the ratios within one run are what compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import httpx
from http_load import Run, load

TEMPLATES = {
    "weather": ["what's the weather in {c}", "will it rain in {c} today", "is it cold in {c}", "forecast for {c}"],
    "music": ["play some {g} music", "put on a {g} playlist", "i want to hear {g}", "start the {g} radio"],
    "alarm": ["wake me up at {t}", "set an alarm for {t}", "alarm at {t} please", "remind me at {t} to get up"],
    "transfer": ["send {n} dollars to {p}", "transfer {n} to {p}", "move {n} dollars to {p}", "pay {p} {n} dollars"],
}
FILL = {
    "c": ["paris", "boston", "tokyo", "lima", "oslo", "cairo"], "g": ["jazz", "rock", "folk", "techno", "blues"],
    "t": ["6 am", "seven", "5:30", "noon", "8 pm"], "n": ["20", "fifty", "100", "35"], "p": ["anna", "bob", "mia", "leo"],
}


def queries(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = list(TEMPLATES)[i % len(TEMPLATES)]
        template = rng.choice(TEMPLATES[label])
        out.append((template.format(**{k: rng.choice(v) for k, v in FILL.items()}), label))
    return out


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["kafka", "tansu"], default="kafka")
    parser.add_argument("--broker", default=None, help="use this running broker instead of starting one")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in the loaded runs")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--swaps", type=int, default=2, help="release/rollback pairs to time")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per forward pass, raw encoder and server")
    parser.add_argument("--serve-engine", choices=["onnx", "torch"], default="onnx", help="pioneer serve --engine")
    return parser


# ---------------------------------------------------------------------------------------------------- setup


def train_versions(home: Path) -> tuple[str, str]:
    from pioneer.events import GateReport
    from pioneer.registry import FileRegistry, VersionInfo
    from pioneer.training import ClassificationAdapter, ClassificationConfig, Example

    registry = FileRegistry(home / "registry")
    versions = []
    for seed, c in ((0, 10.0), (1, 1.0)):
        train = [Example(text=t, label=l, id=f"{seed}-{i}") for i, (t, l) in enumerate(queries(48, seed))]
        adapter = ClassificationAdapter(ClassificationConfig(strategy="head", head_c=c, embedding_cache=False)).fit(train)
        parent = versions[-1] if versions else None
        info = VersionInfo(parent=parent, mode="train", gate_report=GateReport(passed=True, baseline_version=parent,
                                                                             checks=[], notes=["bench"]))
        versions.append(registry.register_version("intents", adapter, info).version)
    registry.move_alias("intents", "production", versions[0], kind="release")
    return versions[0], versions[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(env: dict[str, str], *flags: str) -> Server:
    from streams.brokers import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from pioneer.cli import main; main()", "--log-level", "WARNING", "serve",
         "--model", "intents", "--port", str(port), *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return Server(process, f"http://127.0.0.1:{port}")


async def wait_ready(client: httpx.AsyncClient, server: Server, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}")
        try:
            response = await client.get("/readyz")
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("server not ready")


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


# ---------------------------------------------------------------------------------------------------- ceiling


def raw_encoder(texts: list[str], duration: float, batch: int, threads: int) -> dict[str, float]:
    """The ceiling: sentence-transformers ``encode`` of the same encoder, one sentence per call (latency) and
    batches of ``batch`` (throughput), in this process with no server running."""
    import torch
    from sentence_transformers import SentenceTransformer

    from pioneer.embedding import default_model_path

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = SentenceTransformer(default_model_path(), device="cpu")
        encode = lambda chunk: model.encode(chunk, batch_size=batch, show_progress_bar=False)
        single = _timed(lambda i: encode([texts[i % len(texts)]]), duration / 2)
        batches = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]
        batched = _timed(lambda i: encode(batches[i % len(batches)]), duration)
    finally:
        torch.set_num_threads(previous)
    return _figures(single, batched, batch)


def raw_fast_path(texts: list[str], duration: float, batch: int, threads: int) -> dict[str, float]:
    """The same figures for the encoder on the fast path (ONNX Runtime) that ``pioneer serve`` runs by default."""
    from pioneer.embedding import Embedder

    encoder = Embedder(batch_size=batch, threads=threads)
    encode = encoder.encode
    encode(texts[:2])  # load and export before timing
    single = _timed(lambda i: encode([texts[i % len(texts)]]), duration / 2)
    batches = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]
    batched = _timed(lambda i: encode(batches[i % len(batches)]), duration)
    return _figures(single, batched, batch)


def _figures(single: dict, batched: dict, batch: int) -> dict[str, float]:
    return {"single_p50_ms": statistics.median(single["wall"]) * 1000, "single_cpu_ms": single["cpu_per_call"] * 1000,
            "batched_per_s": batch * single_rate(batched), "batched_cpu_ms": batched["cpu_per_call"] * 1000 / batch}


def single_rate(timed: dict) -> float:
    return len(timed["wall"]) / timed["seconds"]


def _timed(call, duration: float) -> dict:
    """Calls ``call(i)`` for ``duration`` seconds (after 3 warm-up calls): wall time per call, CPU per call."""
    for i in range(3):
        call(i)
    walls: list[float] = []
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < duration:
        t = time.perf_counter()
        call(len(walls))
        walls.append(time.perf_counter() - t)
    return {"wall": walls, "seconds": time.perf_counter() - started,
            "cpu_per_call": (time.process_time() - cpu) / max(1, len(walls))}


# ---------------------------------------------------------------------------------------------------- load


async def bench_mode(env: dict[str, str], mode: str, args: argparse.Namespace, texts: list[str]) -> dict:
    # The only difference between the modes is logging: both follow the releases topic.
    flags = ["--max-batch", str(args.max_batch), "--engine", args.serve_engine, "--engine-threads", str(args.threads)]
    flags += [] if mode == "logging" else ["--no-log-inferences"]
    server = start_server(env, *flags)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=args.concurrency + 4)) as client:
            await wait_ready(client, server)
            pid = server.process.pid
            unloaded = await load(server.url, 1, args.warmup / 2, args.duration / 2, texts, pid=pid)
            loaded = await load(server.url, args.concurrency, args.warmup, args.duration, texts, pid=pid)
            result = {"mode": mode, "unloaded": unloaded.summary(), "loaded": loaded.summary()}
            if mode == "logging":
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    ready = (await client.get("/readyz")).json()["logging"]
                    if not (ready["queued"] or ready["in_flight"] or ready["spilled"]):
                        break
                    await asyncio.sleep(0.2)
                text = (await client.get("/metrics")).text
                answered = metric(text, 'pioneer_serving_requests_total{endpoint="predict",status="200"}')
                result["logs_sent"] = metric(text, "pioneer_serving_events_sent_total")
                result["logs_dropped"] = metric(text, "pioneer_serving_events_dropped_total")
                result["answered"] = answered
        return result
    finally:
        server.stop()


async def bench_swaps(env: dict[str, str], settings, args: argparse.Namespace, texts: list[str],
                      v1: str, v2: str) -> list[dict]:
    from pioneer.events import (
        AliasMove,
        GateReport,
        ModelRef,
        ModelRelease,
        ModelRollback,
    )
    from streams.io import EventPublisher

    server = start_server(env, "--max-batch", str(args.max_batch), "--engine", args.serve_engine,
                          "--engine-threads", str(args.threads))
    results = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=args.concurrency + 4)) as client:
            await wait_ready(client, server)
            stop = asyncio.Event()
            run = Run()
            background = asyncio.create_task(load(server.url, args.concurrency, 0.5, 0, texts, stop, run))
            await asyncio.sleep(args.warmup)
            publisher = EventPublisher(settings)
            await publisher.start()
            for i in range(args.swaps):
                for kind, target, source in (("release", v2, v1), ("rollback", v1, v2)):
                    move = AliasMove(name="production", from_version=source, to_version=target)
                    if kind == "release":
                        event = ModelRelease(
                            event_id=f"bench-rel-{uuid.uuid4().hex[:8]}", timestamp=time.time(),
                            model=ModelRef(name="intents", version=target), parent_version=source, alias=move,
                            metrics={}, gate_report=GateReport(passed=True, baseline_version=source, checks=[], notes=[]))
                    else:
                        event = ModelRollback(event_id=f"bench-rb-{uuid.uuid4().hex[:8]}", timestamp=time.time(),
                                              model=ModelRef(name="intents", version=target), alias=move, reason="bench")
                    before = (await client.get("/metrics")).text
                    published = time.monotonic()
                    await publisher.publish([event])
                    # the answer that shows the swap: the first completed after publishing with the new version
                    while not (served := [t for t, v in run.versions if t >= published and v == target]):
                        await asyncio.sleep(0.005)
                    after = (await client.get("/metrics")).text
                    swap_s = metric(after, "pioneer_serving_swap_seconds_sum") - metric(before, "pioneer_serving_swap_seconds_sum")
                    results.append({"swap": f"{kind} {i + 1}", "to": target, "published_to_served_ms": (served[0] - published) * 1000,
                                    "server_swap_ms": swap_s * 1000})
                    await asyncio.sleep(1.0)
            await publisher.stop()
            stop.set()
            await background
            for result in results:
                result["failed_requests_during_swaps"] = run.failures
    finally:
        server.stop()
    return results


async def bench_logging_path(settings, directory: Path, n: int = 20_000) -> dict[str, float]:
    """In this process: what logging costs a request (build the event, hand it to the shipper) and how fast the
    shipper gets events acknowledged by the broker (encode, validate, partition, batch, send, wait)."""
    from pioneer.events import Input, Output
    from pioneer.serving import ServedModel, SpillQueue, inference_log, new_id
    from streams.serving import EventShipper

    served = ServedModel(name="intents", version="sha256-0123456789abcdef", task="classification", adapter=None)  # type: ignore[arg-type]
    item = Input(text="could you play some jazz music for me")
    output = Output(label="music", scores={"music": 0.81, "alarm": 0.07, "weather": 0.06, "transfer": 0.06})
    spill = SpillQueue(directory / "spill-bench", max_bytes=1 << 30)
    shipper = EventShipper(settings, spill, delivery_timeout=10.0)
    await shipper.start()
    while not shipper.broker_up:
        await asyncio.sleep(0.05)
    started = time.perf_counter()
    for _ in range(n):
        shipper.offer(inference_log(request_id=new_id(), served=served, item=item, prediction=output, latency_ms=1.0))
    request_path = time.perf_counter() - started
    cpu, wall = time.process_time(), time.perf_counter()
    assert await shipper.idle(300), "the shipper did not finish"
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await shipper.stop()
    spill.close()
    return {"events": n, "request_path_us": request_path / n * 1e6, "shipped_per_s": n / wall,
            "ship_cpu_us_per_event": cpu / n * 1e6}


async def main(args: argparse.Namespace) -> None:
    from pioneer.settings import Paths
    from streams.admin import ensure_topics
    from streams.brokers import ApacheKafkaBroker, TansuBroker, free_port
    from streams.kafka import KafkaSettings

    load_start = os.getloadavg()[0]
    home = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    cache = Paths.from_env().cache
    (home / "cache").symlink_to(cache, target_is_directory=True)
    os.environ["PIONEER_HOME"] = str(home)
    print(f"training two versions into {home} ...", file=sys.stderr)
    v1, v2 = train_versions(home)
    broker = None
    if args.broker is None:
        broker = (TansuBroker(port=free_port()) if args.engine == "tansu"
                  else ApacheKafkaBroker(port=free_port(), data_dir=home / "kafka", cache_dir=cache))
        await asyncio.to_thread(broker.start)
    bootstrap = args.broker or broker.bootstrap
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(settings)
    env = {**os.environ, "PIONEER_HOME": str(home), "PIONEER_BROKER": bootstrap,
           "PIONEER_TOPIC_PREFIX": settings.topic_prefix}
    texts = [t for t, _ in queries(500, seed=7)]
    print("raw encoder (the ceiling) ...", file=sys.stderr)
    ceiling = raw_encoder(texts, args.duration, args.max_batch, args.threads)
    fast = raw_fast_path(texts, args.duration, args.max_batch, args.threads)
    try:
        results = []
        for repeat in range(args.repeats):
            for mode in ("logging", "no-logging") if repeat % 2 == 0 else ("no-logging", "logging"):
                print(f"run {repeat + 1}/{args.repeats}: {mode} ...", file=sys.stderr)
                results.append(await bench_mode(env, mode, args, texts))
        print("hot swaps ...", file=sys.stderr)
        swaps = await bench_swaps(env, settings, args, texts, v1, v2)
        print("logging path ...", file=sys.stderr)
        path = await bench_logging_path(settings, home)
    finally:
        if broker is not None:
            broker.stop()
    report(args, bootstrap, results, swaps, path, ceiling, fast, load_start)


def report(args: argparse.Namespace, bootstrap: str, results: list[dict], swaps: list[dict], path: dict,
           ceiling: dict, fast: dict, load_start: float) -> None:
    print(f"\npioneer serve, {os.cpu_count()} CPUs, load average {load_start:.1f} -> {os.getloadavg()[0]:.1f}; broker {args.engine if not args.broker else bootstrap}; "
          f"MiniLM-L6 + logistic head; max batch {args.max_batch}; {args.duration:.0f} s per loaded run")
    print(f"{'mode':11} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>10} {'client':>7} "
          f"{'fail':>5}  logs sent/answered")
    for result in results:
        for phase, clients in (("unloaded", 1), ("loaded", args.concurrency)):
            s = result[phase]
            logs = (f"{result['logs_sent']:.0f}/{result['answered']:.0f} (dropped {result['logs_dropped']:.0f})"
                    if phase == "loaded" and "logs_sent" in result else "")
            print(f"{result['mode']:11} {clients:>7} {s['rps']:>8.1f} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} "
                  f"{s['cpu_ms_per_request']:>10.2f} {s['client_cpu_ms_per_request']:>7.2f} {s['failures']:>5}  {logs}")
    medians: dict[tuple[str, str], dict[str, float]] = {}
    for mode in ("logging", "no-logging"):
        runs = [r for r in results if r["mode"] == mode]
        for phase in ("unloaded", "loaded"):
            med = {k: statistics.median(r[phase][k] for r in runs)
                   for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "client_cpu_ms_per_request")}
            medians[mode, phase] = med
            print(f"median {mode:11} {phase:8}: {med['rps']:.1f} req/s, p50 {med['p50_ms']:.1f} ms, "
                  f"p99 {med['p99_ms']:.1f} ms, server CPU {med['cpu_ms_per_request']:.2f} ms/request, "
                  f"load generator CPU {med['client_cpu_ms_per_request']:.2f} ms/request")
    report_ceiling(args, ceiling, fast, medians)
    print(f"\nhot swap under load ({args.concurrency} clients):")
    for swap in swaps:
        print(f"  {swap['swap']:10} published -> first answer from {swap['to'][:19]}: {swap['published_to_served_ms']:7.0f} ms; "
              f"server load+warm-up+swap {swap['server_swap_ms']:7.0f} ms")
    if swaps:
        print(f"  failed requests during the swaps: {swaps[-1]['failed_requests_during_swaps']}")
    print(f"\nlogging path, in process ({path['events']} events): {path['request_path_us']:.1f} us per request to build "
          f"and queue the log; shipped {path['shipped_per_s']:.0f} events/s, {path['ship_cpu_us_per_event']:.0f} us CPU "
          "per event (encode, validate, batch, send, ack)")


def report_ceiling(args: argparse.Namespace, ceiling: dict, fast: dict, medians: dict) -> None:
    """The raw encoder beside the server, and the ratios the serving targets are stated in (against
    sentence-transformers, the encoder as trained)."""
    loaded, unloaded = medians["logging", "loaded"], medians["logging", "unloaded"]
    print(f"\nraw encoder, same run, {args.threads} thread(s); server engine {args.serve_engine}")
    for name, raw in (("sentence-transformers (torch)", ceiling), ("fast path (ONNX Runtime)", fast)):
        print(f"  {name:30} one sentence p50 {raw['single_p50_ms']:5.1f} ms ({raw['single_cpu_ms']:.2f} ms CPU); batches "
              f"of {args.max_batch}: {raw['batched_per_s']:4.0f} sentences/s ({raw['batched_cpu_ms']:.2f} ms CPU per sentence)")
    rows = [
        ("loaded throughput / raw batched rate", loaded["rps"] / ceiling["batched_per_s"], ">= 0.70"),
        ("server CPU per request / raw CPU per sentence", loaded["cpu_ms_per_request"] / ceiling["batched_cpu_ms"], "<= 1.50"),
        ("unloaded p50 - raw single p50 (ms)", unloaded["p50_ms"] - ceiling["single_p50_ms"], "<= 3.0"),
        ("  the same against the fast path's single p50", unloaded["p50_ms"] - fast["single_p50_ms"], "none"),
        ("throughput with logging / without", loaded["rps"] / medians["no-logging", "loaded"]["rps"], ">= 0.95"),
    ]
    for name, value, target in rows:
        print(f"  {name:48} {value:7.2f}   (target {target})")
    busy = loaded["rps"] * (loaded["cpu_ms_per_request"] + loaded["client_cpu_ms_per_request"]) / 1000
    print(f"  loaded run: server + load generator kept {busy:.2f} of {os.cpu_count()} CPUs busy; the load generator's "
          f"share {loaded['client_cpu_ms_per_request'] / max(1e-9, loaded['cpu_ms_per_request'] + loaded['client_cpu_ms_per_request']):.0%}")


if __name__ == "__main__":
    asyncio.run(main(make_parser().parse_args()))

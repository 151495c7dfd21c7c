"""A load generator that costs the machine little: closed-loop HTTP/1.1 clients on raw asyncio streams.

Each client holds one keep-alive connection and sends request bytes built once per text; it reads the status
line, the headers it needs (``content-length``, ``x-model-version``) and the body, and parses nothing else. On a
2-core machine a general HTTP client (httpx) takes a large share of the CPU that the server under test needs, so
its throughput measures the client; this one spends a few tens of microseconds per request (the benchmarks print
its CPU per request beside the server's).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (from /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's main thread alone (in a server: the event loop, HTTP, logging, metrics)."""
    import os

    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def predict_request(host: str, text: str, path: str = "/v1/predict") -> bytes:
    """The bytes of one ``POST`` of ``{"text": text}``, ready to write."""
    body = orjson.dumps({"text": text})
    head = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    versions: list[tuple[float, str]] = field(default_factory=list)  # (completion time, version)
    failures: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    """Server CPU seconds while measuring: per request, far less sensitive to a busy machine than latency."""
    loop_cpu: float = 0.0
    """The server's main thread's share of ``cpu`` (the rest: the inference thread and any others)."""
    client_cpu: float = 0.0
    """This process's CPU seconds while measuring: what the load generator itself took."""

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")
        n = max(1, len(ordered))
        return {"requests": len(ordered), "rps": len(ordered) / self.seconds, "p50_ms": pick(0.50),
                "p99_ms": pick(0.99), "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
                "failures": self.failures, "cpu_ms_per_request": self.cpu * 1000 / n,
                "loop_cpu_ms_per_request": self.loop_cpu * 1000 / n,
                "client_cpu_ms_per_request": self.client_cpu * 1000 / n}


class Connection:
    """One keep-alive connection; :meth:`send` returns (status, x-model-version)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, str]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, version, close = 0, "", False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"x-model-version":
                    version = value.strip().decode("latin-1")
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            raise
        if close:
            self.close()
        return status, version

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(url: str, concurrency: int, warmup: float, duration: float, texts: list[str],
               stop: asyncio.Event | None = None, run: Run | None = None, pid: int | None = None,
               path: str = "/v1/predict") -> Run:
    """``concurrency`` closed-loop clients posting ``texts`` in turn to ``url``: measured for ``duration`` seconds
    after ``warmup`` (or until ``stop``), recorded in ``run`` with the server's (``pid``) and this process's CPU."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [predict_request(f"{host}:{port}", text, path) for text in texts]
    run = run if run is not None else Run()
    measuring = asyncio.Event()
    done = stop or asyncio.Event()

    async def client(k: int) -> None:
        connection = Connection(host, port)
        i = k
        try:
            while not done.is_set():
                started = time.perf_counter()
                try:
                    status, version = await connection.send(requests[i % len(requests)])
                    ok = status == 200
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    ok, version = False, ""
                finished = time.perf_counter()
                if measuring.is_set() and not done.is_set():
                    if ok:
                        run.latencies.append(finished - started)
                        run.versions.append((time.monotonic(), version))
                    else:
                        run.failures += 1
                i += concurrency
        finally:
            connection.close()

    clients = [asyncio.create_task(client(k)) for k in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring.set()
    started, client_cpu = time.perf_counter(), time.process_time()
    cpu_start = cpu_seconds(pid) if pid else 0.0
    loop_start = main_thread_cpu_seconds(pid) if pid else 0.0
    if stop is None:
        await asyncio.sleep(duration)
        done.set()
    else:
        await done.wait()
    run.seconds = time.perf_counter() - started
    run.cpu = cpu_seconds(pid) - cpu_start if pid else 0.0
    run.loop_cpu = main_thread_cpu_seconds(pid) - loop_start if pid else 0.0
    run.client_cpu = time.process_time() - client_cpu
    await asyncio.gather(*clients)
    return run

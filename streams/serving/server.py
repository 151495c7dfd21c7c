"""Running the app under uvicorn: in the foreground (``pioneer serve``) or on a background thread (tests, benchmarks).

uvicorn runs the app's lifespan, so the runtime starts before the first request is accepted and, on SIGTERM or
SIGINT, stops after the last response: in-memory events are shipped or spilled before the process exits.
"""

from __future__ import annotations

import logging
import threading
import time

import uvicorn
from fastapi import FastAPI


def uvicorn_config(app: FastAPI, *, host: str, port: int, graceful_seconds: float = 30.0) -> uvicorn.Config:
    """uvicorn settings for serving: Pioneer's own logging (no access log: metrics count requests)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(graceful_seconds),
        server_header=False,
    )


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()


class RepeatFilter(logging.Filter):
    """Passes the first record of each (logger, message template) per ``interval`` seconds, drops the repeats.

    While a broker is away, aiokafka logs every failed reconnect and fetch at ERROR, tens of lines a second from
    one serving process; the shipper already says once that Kafka is unreachable, and the metrics say how long.
    Only loggers under ``prefix`` are throttled.
    """

    def __init__(self, prefix: str = "aiokafka", interval: float = 30.0) -> None:
        super().__init__()
        self.prefix = prefix
        self.interval = interval
        self.suppressed = 0
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self.suppressed += 1
            return False
        self._last[key] = now
        return True


def throttle_kafka_client_logs(interval: float = 30.0) -> RepeatFilter:
    """Install a :class:`RepeatFilter` for aiokafka on every handler of the root logger; returns it."""
    repeat = RepeatFilter("aiokafka", interval)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeat)
    return repeat


class BackgroundServer:
    """The app served on a thread of this process, for tests and benchmarks.

    >>> with BackgroundServer(app, port=free_port()) as server:   # doctest: +SKIP
    ...     httpx.get(server.url + "/healthz")
    """

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int) -> None:
        self.host = host
        self.port = port
        self.server = uvicorn.Server(uvicorn_config(app, host=host, port=port))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} exited during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server on port {self.port} did not start within {timeout:.0f}s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful stop: the lifespan's shutdown (ship or spill events) runs before this returns."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the server on port {self.port} did not stop within {timeout:.0f}s")
            self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

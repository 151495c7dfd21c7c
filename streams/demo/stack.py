"""``LoopStack``: the whole loop on one machine, for the demo and the deployments alike.

An embedded broker with the topics; then, once a first model is registered, ``pioneer serve``, ``pioneer
monitor`` and ``pioneer trainer`` as child processes with their product defaults, their home, their broker and
their logs under ``home/logs``. Everything it starts, :meth:`LoopStack.stop` stops, in reverse order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from streams.demo.processes import ManagedProcess, child_environment
from streams.kafka import KafkaSettings

READY_TIMEOUT = 300.0
"""Seconds the server may take to answer /readyz: a loaded 2-core machine loads the model slowly."""


class LoopStack:
    """Broker, server, monitor and trainer for one model under ``home``. See the module docstring."""

    def __init__(self, home: Path) -> None:
        from streams.brokers import TansuBroker, free_port

        self.home = home
        self.broker = TansuBroker(port=free_port(), log_file=home / "logs" / "broker.log")
        self.processes: list[ManagedProcess] = []
        self.env: dict[str, str] = {}

    def start_broker(self) -> KafkaSettings:
        """Start the broker and create the topics; returns the settings that reach it."""
        from streams.admin import ensure_topics

        self.broker.start()
        settings = KafkaSettings(bootstrap_servers=self.broker.bootstrap)
        asyncio.run(ensure_topics(settings))
        return settings

    def start_loop(self, model: str, say: Callable[[str], None], judge: list[str] | None = None, *,
                   monitor_metrics_port: int | None = None) -> str:
        """Start the server (for ``model``), the monitor (serving its Prometheus metrics on
        ``monitor_metrics_port`` when given) and the trainer, and with ``judge`` (its ``pioneer judge`` arguments)
        a judge worker; returns the server's URL once ready."""
        from streams.brokers import free_port

        port = free_port()
        self.env = child_environment(self.home, self.broker.bootstrap)
        logs = self.home / "logs"
        metrics = [] if monitor_metrics_port is None else ["--metrics-port", str(monitor_metrics_port)]
        self.processes = [
            ManagedProcess("server", ["serve", "--model", model, "--port", str(port)], env=self.env,
                           log_path=logs / "serve.log"),
            ManagedProcess("monitor", ["monitor", *metrics], env=self.env, log_path=logs / "monitor.log"),
            ManagedProcess("trainer", ["trainer"], env=self.env, log_path=logs / "trainer.log"),
        ]
        if judge is not None:
            self.processes.append(ManagedProcess("judge", ["judge", *judge], env=self.env, log_path=logs / "judge.log"))
        for process in self.processes:
            process.start()
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, self.processes, say)
        return base_url

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.broker.stop()

    def __enter__(self) -> LoopStack:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def wait_ready(base_url: str, processes: list[ManagedProcess], say: Callable[[str], None],
               timeout: float = READY_TIMEOUT) -> None:
    """Wait until the server at ``base_url`` is ready, failing at once if one of ``processes`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if not process.alive():
                raise RuntimeError(f"the {process.name} exited early:\n{process.tail()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                say(f"      server ready at {base_url} (OpenAPI: {base_url}/docs)")
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise RuntimeError("the server did not become ready in time")

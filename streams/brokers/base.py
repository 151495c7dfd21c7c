"""A broker process on loopback that Pioneer starts, waits for, and stops."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path

from streams.admin import wait_for_broker
from streams.kafka import KafkaSettings

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or reached."""


class LocalBroker(ABC):
    """One local broker process speaking the Kafka protocol.

    Use as a context manager, or call :meth:`start` then :meth:`stop`:

    >>> from streams.brokers import TansuBroker
    >>> with TansuBroker(port=19092) as broker:          # doctest: +SKIP
    ...     print(broker.bootstrap)
    127.0.0.1:19092
    """

    engine: str = ""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 9092, log_file: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the broker in the foreground."""

    def prepare(self) -> None:
        """Work needed before the first start (fetch binaries, format storage). Idempotent."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, timeout: float = 120.0) -> float:
        """Start the broker and wait until it answers; returns the seconds from launch to first answer."""
        if self.is_running():
            raise BrokerError(f"{self.engine} broker already running (pid {self.pid})")
        if _port_in_use(self.host, self.port):
            raise BrokerError(f"port {self.host}:{self.port} is already in use; pick another with --port")
        self.prepare()
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = open(self.log_file, "ab")
        launched = time.monotonic()
        self._process = subprocess.Popen(
            self.command(),
            stdout=self._log_handle or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            start_new_session=True,  # Ctrl-C reaches Pioneer, which then stops the broker in order
        )
        try:
            asyncio.run(self._wait_ready(timeout))
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - launched

    async def _wait_ready(self, timeout: float) -> None:
        waiter = asyncio.ensure_future(wait_for_broker(KafkaSettings(bootstrap_servers=self.bootstrap), timeout))
        while not waiter.done():
            if not self.is_running():
                waiter.cancel()
                raise BrokerError(
                    f"{self.engine} broker exited with code {self._process.returncode}; see {self.log_file}"
                    f"{self._log_tail()}"
                )
            await asyncio.sleep(0.1)
        try:
            waiter.result()
        except TimeoutError as exc:
            raise BrokerError(str(exc)) from None

    def _log_tail(self, lines: int = 15) -> str:
        """The end of the broker's log, so a failed start says why without a second look."""
        if self.log_file is None or not Path(self.log_file).exists():
            return ""
        with open(self.log_file, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 16384))
            tail = handle.read().decode(errors="replace").splitlines()[-lines:]
        return "\n" + "\n".join(tail) if tail else ""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGTERM), then forcibly if it does not exit within ``timeout``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s broker did not stop within %.0fs; killing it", self.engine, timeout)
                process.kill()
                process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def wait(self) -> int:
        """Block until the broker exits; returns its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0

"""Free loopback ports for brokers and servers that Pioneer starts itself.

Ports come from a range below the kernel's ephemeral range, so an outgoing connection can never take one
between the moment it is picked and the moment a broker binds it, and they are handed out in order, so one
process never gets the same port twice. ``PIONEER_PORTS=LOW-HIGH`` narrows the range; the test suite gives each
parallel worker its own range, so workers never race for a port.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading

DEFAULT_RANGE = (20000, 32767)  # Linux hands out ephemeral ports from 32768 up by default
RANGE_VARIABLE = "PIONEER_PORTS"


def port_range(environ: dict[str, str] | None = None) -> tuple[int, int]:
    """The inclusive range ports are picked from: ``PIONEER_PORTS`` when set, else :data:`DEFAULT_RANGE`."""
    value = (environ if environ is not None else os.environ).get(RANGE_VARIABLE, "").strip()
    if not value:
        return DEFAULT_RANGE
    low, sep, high = value.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError(f"{RANGE_VARIABLE} must look like LOW-HIGH, got {value!r}")
    low_port, high_port = int(low), int(high)
    if not 1024 <= low_port < high_port <= 65535:
        raise ValueError(f"{RANGE_VARIABLE}={value!r}: need 1024 <= LOW < HIGH <= 65535")
    return low_port, high_port


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out pairs of free ports in order: ``p`` and ``p + 1`` are both free (a Kafka node listens on both)."""

    def __init__(self, low: int, high: int, *, seed: int | None = None) -> None:
        self.low, self.high = low, high
        pairs = range(low, high, 2)
        # Concurrent processes sharing a range start far apart: processes started together have neighbouring
        # pids, and starts one pair apart would hand the second its neighbour's next port.
        start = random.Random(os.getpid() if seed is None else seed).randrange(len(pairs))
        self._cursor = itertools.cycle([*pairs[start:], *pairs[:start]])
        self._lock = threading.Lock()

    def take(self, host: str = "127.0.0.1") -> int:
        with self._lock:
            for _ in range((self.high - self.low) // 2):
                port = next(self._cursor)
                if _bindable(host, port) and _bindable(host, port + 1):
                    return port
        raise OSError(f"no free port pair on {host} in {self.low}-{self.high}")


_allocators: dict[tuple[int, int], PortAllocator] = {}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, whose next port is free too; never the same one twice per process."""
    bounds = port_range()
    allocator = _allocators.get(bounds)
    if allocator is None:
        allocator = _allocators.setdefault(bounds, PortAllocator(*bounds))
    return allocator.take(host)

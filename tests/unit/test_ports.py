"""Ports for brokers the suite and the CLI start: outside the ephemeral range, in order, never twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from streams.brokers.ports import DEFAULT_RANGE, PortAllocator, port_range


def test_default_range_stays_below_the_kernel_ephemeral_range() -> None:
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except OSError:
        pytest.skip("no Linux ephemeral port range to compare with")
    assert DEFAULT_RANGE[1] < ephemeral_low


def test_range_from_environment_and_bad_values() -> None:
    assert port_range({"PIONEER_PORTS": "21000-21999"}) == (21000, 21999)
    assert port_range({}) == DEFAULT_RANGE
    for bad in ("21000", "a-b", "21999-21000", "80-90", "21000-70000"):
        with pytest.raises(ValueError, match="PIONEER_PORTS"):
            port_range({"PIONEER_PORTS": bad})


def test_pairs_are_free_distinct_and_skip_a_taken_port() -> None:
    allocator = PortAllocator(24000, 24040)
    first = allocator.take()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", first + 3))  # the next pair's second port is taken
        listener.listen()
        taken = [allocator.take() for _ in range(5)]
    ports = [first, *taken]
    assert len(set(ports)) == len(ports)
    assert all(24000 <= port < 24040 for port in ports)
    assert first + 2 not in taken  # its partner first + 3 was listening


def test_exhausted_range_says_so() -> None:
    allocator = PortAllocator(24100, 24102)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", allocator.take()))
        listener.listen()
        with pytest.raises(OSError, match="no free port pair"):
            allocator.take()


def test_processes_started_together_do_not_hand_out_each_other_s_next_ports() -> None:
    first, second = PortAllocator(*DEFAULT_RANGE, seed=4242), PortAllocator(*DEFAULT_RANGE, seed=4243)  # pids in a row
    ports = [first.take() for _ in range(8)], [second.take() for _ in range(8)]
    assert not set(ports[0]) & set(ports[1])

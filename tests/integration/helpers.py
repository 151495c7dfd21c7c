"""Small helpers for integration tests that talk to a real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from streams.kafka import KafkaSettings


async def read_all(
    settings: KafkaSettings, topic: str, expected: int, timeout: float = 30.0
) -> list[ConsumerRecord]:
    """Read a topic from the start (no group) until ``expected`` records arrived or ``timeout`` passed."""
    consumer = AIOKafkaConsumer(topic, **settings.consumer_kwargs(None))
    await consumer.start()
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=200)
            for batch in fetched.values():
                records.extend(batch)
        # Linger briefly: a correct run has no records beyond the expected ones.
        extra = await consumer.getmany(timeout_ms=300)
        records.extend(r for batch in extra.values() for r in batch)
    finally:
        await consumer.stop()
    return records


def run(coro):
    return asyncio.run(coro)


def ids(records: Sequence[ConsumerRecord]) -> list[str]:
    import orjson

    return [orjson.loads(r.value)["event_id"] for r in records]


def wait_for(predicate, timeout: float, what: str, every: float = 0.5, explain=None) -> None:
    """Poll ``predicate`` until it holds; fail saying ``what`` never happened, and what ``explain()`` tells then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{explain()}" if explain else ""))


def worker_story(workers: dict, home, lines: int = 30) -> str:
    """Each worker process of ``workers`` (name -> Popen, logging to ``home/<name>.log``): whether it still runs,
    and the last ``lines`` of its log without debug lines, which is all a failed CI run shows of it."""
    from pathlib import Path

    parts = []
    for name, process in workers.items():
        state = "running" if process.poll() is None else f"exited with {process.returncode}"
        path = Path(home) / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        tail = [line[:400] for line in text if '"level":"debug"' not in line][-lines:]
        parts.append(f"--- worker {name} ({state}), last lines of its log:\n" + "\n".join(tail))
    return "\n".join(parts)


def stop_process(process) -> None:
    """SIGINT a worker started in its own session; SIGKILL it if it has not stopped within 30 s."""
    import os
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def owned_partitions(log_path) -> list[set[int]]:
    """The join partitions a worker took up, in order: replayed from the changelog or taken back without it."""
    import orjson

    marks = ('"join partitions restored"', '"join partitions taken back')
    lines = [line for line in log_path.read_text().splitlines() if any(m in line for m in marks)]
    return [set(orjson.loads(line[line.index("{"):])["partitions"]) for line in lines]


def taken_back_partitions(log_path) -> list[set[int]]:
    """The join partitions a worker got back after a rebalance without replaying their changelog, in order."""
    import orjson

    lines = [line for line in log_path.read_text().splitlines() if '"join partitions taken back' in line]
    return [set(orjson.loads(line[line.index("{"):])["partitions"]) for line in lines]


def restored_partitions(log_path) -> list[set[int]]:
    """The join partitions a worker restored, in order (one entry per assignment), from its JSON log."""
    import orjson

    lines = [line for line in log_path.read_text().splitlines() if '"join partitions restored"' in line]
    return [set(orjson.loads(line[line.index("{"):])["partitions"]) for line in lines]


def share_machine_cache(home) -> None:
    """Link ``home``'s cache to the machine's, as the ``pioneer_home`` fixture does: a worker process with this
    PIONEER_HOME loads the converted models, ONNX exports and embeddings an earlier process prepared instead of
    preparing them again (their first-use paths are tested where they are the point, e.g. test_parity)."""
    from pathlib import Path

    from pioneer.settings import Paths

    cache = Paths.from_env().cache
    cache.mkdir(parents=True, exist_ok=True)
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "cache").symlink_to(cache, target_is_directory=True)

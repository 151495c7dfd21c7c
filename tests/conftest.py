"""Shared fixtures: real brokers for integration tests.

Integration tests talk Kafka protocol to real brokers. CI starts them once and passes their addresses in
``PIONEER_TEST_KAFKA`` (Apache Kafka, the reference) and ``PIONEER_TEST_TANSU`` (the embedded engine); when
a variable is absent the fixture starts that broker itself for the session, so a bare ``pytest`` works too.
Each test gets its own topic prefix, so tests never see each other's records.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Idle OpenMP threads sleep instead of spinning: on 2 shared cores spinning threads starve each other
# (prediction measured 47/s spinning vs 265/s passive). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Under pytest-xdist the workers share the cores: each worker's thread pools (and its subprocesses') get a share.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))


def _worker_port_range() -> str:
    """This worker's share of the port range, so parallel workers never pick the same port for a broker."""
    from streams.brokers.ports import port_range

    low, high = port_range()
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    share = (high - low) // _WORKERS
    return f"{low + index * share}-{low + (index + 1) * share - 1}"


if _WORKERS > 1:
    os.environ["PIONEER_PORTS"] = _worker_port_range()


def _external_or_started(env_var: str, start) -> Iterator[str]:
    address = os.environ.get(env_var)
    if address:
        yield address
        return
    broker = start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of an Apache Kafka broker (KRaft, single node)."""
    from pioneer.settings import Paths
    from streams.brokers import ApacheKafkaBroker, free_port

    def start() -> ApacheKafkaBroker:
        broker = ApacheKafkaBroker(
            port=free_port(), data_dir=tmp_path_factory.mktemp("kafka"), cache_dir=Paths.from_env().cache
        )
        broker.start()
        return broker

    yield from _external_or_started("PIONEER_TEST_KAFKA", start)


@pytest.fixture(scope="session")
def tansu_bootstrap() -> Iterator[str]:
    """Address of an embedded Tansu broker (memory only)."""
    from streams.brokers import TansuBroker, free_port

    def start() -> TansuBroker:
        broker = TansuBroker(port=free_port())
        broker.start()
        return broker

    yield from _external_or_started("PIONEER_TEST_TANSU", start)


@pytest.fixture(params=["kafka", "tansu"])
def any_bootstrap(request: pytest.FixtureRequest) -> str:
    """Each engine in turn."""
    return request.getfixturevalue(f"{request.param}_bootstrap")


def isolated_settings(bootstrap: str, partitions: int | None = None):
    """Settings with a fresh topic prefix, and the prefixed catalogue's topics created."""
    from streams.admin import ensure_topics
    from streams.kafka import KafkaSettings

    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    catalogue = settings.catalogue if partitions is None else settings.catalogue.with_partitions(partitions)
    asyncio.run(ensure_topics(settings, catalogue))
    return settings


@pytest.fixture
def kafka_settings(kafka_bootstrap: str):
    return isolated_settings(kafka_bootstrap)


@pytest.fixture
def any_settings(any_bootstrap: str):
    return isolated_settings(any_bootstrap)


@pytest.fixture
def pioneer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private PIONEER_HOME (registry, trace store, state) for one test. The Kafka jar cache is shared."""
    from pioneer.settings import Paths

    cache = Paths.from_env().cache
    home = tmp_path / "pioneer-home"
    home.mkdir()
    cache.mkdir(parents=True, exist_ok=True)
    (home / "cache").symlink_to(cache, target_is_directory=True)
    monkeypatch.setenv("PIONEER_HOME", str(home))
    return home

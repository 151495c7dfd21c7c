"""Topic administration: create the catalogue's topics idempotently, and wait for a broker to answer."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from pioneer.topics import TopicCatalogue
from streams.kafka import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicsResult:
    created: tuple[str, ...]
    existing: tuple[str, ...]


async def wait_for_broker(settings: KafkaSettings, timeout: float = 60.0) -> float:
    """Wait until the broker answers a metadata request; returns the seconds waited."""
    start = time.monotonic()
    last_error: Exception | None = None
    while time.monotonic() - start < timeout:
        if not await _accepts_connections(settings.bootstrap_servers):
            await asyncio.sleep(0.1)
            continue
        admin = AIOKafkaAdminClient(**settings.client_kwargs(), request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return time.monotonic() - start
        except (KafkaError, OSError) as exc:
            last_error = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise TimeoutError(f"broker {settings.bootstrap_servers} did not answer within {timeout:.0f}s: {last_error}")


async def _accepts_connections(bootstrap_servers: str) -> bool:
    """Whether the first bootstrap server accepts TCP connections (checked before Kafka requests, which log
    an error for every refused attempt)."""
    host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), 2.0)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


async def ensure_topics(settings: KafkaSettings, catalogue: TopicCatalogue | None = None) -> TopicsResult:
    """Create every topic of ``catalogue`` that does not exist yet. Safe to run any number of times."""
    catalogue = catalogue or settings.catalogue
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in catalogue if spec.name not in existing]
        created: list[str] = []
        for spec in missing:
            # One request per topic, so a topic created concurrently by another process is not an error
            # for the others.
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication_factor=settings.replication, topic_configs=spec.configs())]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        await _wait_for_metadata(admin, [spec.name for spec in missing])
        return TopicsResult(
            created=tuple(created), existing=tuple(spec.name for spec in catalogue if spec.name not in created)
        )
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30.0) -> None:
    """Topic creation is asynchronous on the broker; wait until every new topic is listed."""
    deadline = time.monotonic() + timeout
    while names and time.monotonic() < deadline:
        listed = set(await admin.list_topics())
        if all(name in listed for name in names):
            return
        await asyncio.sleep(0.1)


async def existing_partitions(client: AIOKafkaClient, topics: list[str]) -> dict[str, int]:
    """Partition counts of those of ``topics`` that exist, asked so that the broker creates none.

    A metadata request for named topics lets the broker auto-create them unless it says otherwise (aiokafka's
    clients always allow it); a writer that must not write to a topic the catalogue did not shape asks here.
    """
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known to ask for topic metadata")
    response = await client.send(node, MetadataRequest(list(topics), allow_auto_topic_creation=False))
    found = {}
    for topic in response.to_object()["topics"]:
        if topic["error_code"] == 0 and topic["partitions"]:
            found[topic["topic"]] = len(topic["partitions"])
    return found


async def list_topics(settings: KafkaSettings) -> dict[str, int]:
    """Topic name -> partition count, as the broker sees them."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        names = await admin.list_topics()
        described = await admin.describe_topics(list(names))
        return {d["topic"]: len(d["partitions"]) for d in described if not d["topic"].startswith("__")}
    finally:
        await admin.close()


async def delete_topics(settings: KafkaSettings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        await admin.delete_topics(names)
    except KafkaConnectionError:
        raise
    except KafkaError as exc:
        log.warning("deleting topics %s: %s", names, exc)
    finally:
        await admin.close()

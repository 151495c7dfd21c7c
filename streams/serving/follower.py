"""Following the releases topic: what the latest release or rollback of our model says should serve.

The releases topic is compacted and keyed by model name, so reading it from the beginning gives, per model,
the last release or rollback (and perhaps some history not compacted yet). The follower reads it without a
consumer group (every serving replica needs every event; none should "take" a partition from another), from the
beginning to the end offsets it found at start, and hands only the *last* relevant event to the swapper: a
starting replica loads one version, not every version in the history. It then follows new events one by one.
A broker that goes away is waited for; aiokafka reconnects, and the model keeps serving in the meantime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from pioneer.events import EventCodec
from pioneer.serving.releases import release_target
from streams.kafka import KafkaSettings

log = logging.getLogger(__name__)

OnTarget = Callable[[str, str, str], None]
"""Called as ``on_target(version, kind, reason)`` for each release or rollback of the followed model."""


class ReleaseFollower:
    """Reads the releases topic for one model's alias and reports each target version.

    Parameters
    ----------
    model, alias
        Only events of this model that move this alias count.
    on_target
        Told the version to serve (typically :meth:`pioneer.serving.ModelSwapper.set_target`).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        model: str,
        alias: str,
        on_target: OnTarget,
        codec: EventCodec | None = None,
        retry_interval: float = 2.0,
    ) -> None:
        self.settings = settings
        self.model = model
        self.alias = alias
        self.on_target = on_target
        self.codec = codec or EventCodec()
        self.retry_interval = retry_interval
        self.topic = settings.topic("model_release")
        self.caught_up = False
        """True once the history present at start was read (and its latest target handed over)."""
        self.events_seen = 0
        self.undecodable = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="release-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            # Subscribing without a group assigns every partition of the topic on start (metadata included).
            consumer = AIOKafkaConsumer(self.topic, **self.settings.consumer_kwargs(None))
            try:
                await consumer.start()
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker or the topic is not there (yet): wait and retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cannot read the releases topic; retrying", extra={"topic": self.topic, "error": self.last_error})
                await asyncio.sleep(self.retry_interval)
            finally:
                try:
                    await consumer.stop()
                except Exception:  # noqa: BLE001 - stopping a consumer of a dead broker
                    pass

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        if not tps:
            raise LookupError(f"topic {self.topic} does not exist (run `pioneer topics create`)")
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        latest: tuple[str, str, str] | None = None
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            fetched = await consumer.getmany(*tps, timeout_ms=500)
            for records in fetched.values():
                for record in records:
                    target = self._target(record)
                    if target is not None:
                        latest = target
        if latest is not None:
            self.on_target(*latest)  # after a reconnect this repeats the newest target, which the swapper ignores
        self.caught_up = True
        self.last_error = None
        log.info("release history read; following", extra={"topic": self.topic, "model": self.model, "target": latest})
        while True:
            fetched = await consumer.getmany(*tps, timeout_ms=1000)
            for records in fetched.values():
                for record in records:
                    target = self._target(record)
                    if target is not None:
                        self.on_target(*target)

    def _target(self, record: ConsumerRecord) -> tuple[str, str, str] | None:
        self.events_seen += 1
        if record.key is not None and record.key != self.model.encode():
            return None  # another model's event (the topic is keyed by model name)
        if record.value is None:
            return None  # a compaction tombstone
        try:
            event = self.codec.decode(record.value)
            found = release_target(event, model=self.model, alias=self.alias)
        except Exception as exc:  # noqa: BLE001 - DecodeError, or any other: one record must not stop following
            self.undecodable += 1
            log.warning("skipping an unusable record on the releases topic",
                        extra={"offset": record.offset, "error": f"{type(exc).__name__}: {exc}"[:500]})
            return None
        if found is None:
            return None
        version, kind = found
        return version, kind, f"{event.event_type} {event.event_id}"

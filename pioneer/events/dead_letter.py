"""Building dead-letter events: the original bytes, where they came from, and why they were refused."""

from __future__ import annotations

import base64
import time

from pioneer.events.types import DeadLetter, DeadLetterSource


def make_dead_letter(
    *,
    payload: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    error: str,
    reason: str,
    consumer: str | None = None,
    now: float | None = None,
) -> DeadLetter:
    """A dead letter for the record at ``topic/partition/offset``.

    The event id is derived from the record's position, so re-reading the same record after a crash produces
    the same dead letter (downstream deduplicates it) instead of a second one.

    >>> make_dead_letter(payload=b"{", key=None, topic="t", partition=0, offset=7, error="decode",
    ...                  reason="bad", now=1.0).event_id
    'dl-t-0-7'
    """
    return DeadLetter(
        event_id=f"dl-{topic}-{partition}-{offset}",
        timestamp=time.time() if now is None else now,
        source=DeadLetterSource(
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=None if key is None else base64.b64encode(key).decode("ascii"),
            consumer=consumer,
        ),
        error=error,  # type: ignore[arg-type]
        reason=reason[:2000],
        payload_b64=base64.b64encode(payload or b"").decode("ascii"),
    )


def original_payload(letter: DeadLetter) -> bytes:
    """The bytes that were refused, for replay after a fix."""
    return base64.b64decode(letter.payload_b64)

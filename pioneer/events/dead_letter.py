"""Building dead-letter events: the original bytes, where they came from, and why they were refused.

A dead letter must itself fit on the dead-letter topic whatever it carries: a record of any size may be refused
(the broker's limit is per topic), and base64 makes bytes a third larger. So a letter carries at most
:data:`PAYLOAD_LIMIT` bytes of the payload (and :data:`KEY_LIMIT` of the key), and always the size and SHA-256
of the whole payload, which identify the record for anyone holding it (its source position says where).
"""

from __future__ import annotations

import base64
import hashlib
import time

from pioneer.events.types import DeadLetter, DeadLetterSource

PAYLOAD_LIMIT = 256 << 10
"""Payload bytes a dead letter carries at most (about 342 KiB in base64: far below Kafka's 1 MiB default)."""
KEY_LIMIT = 1 << 10
"""Key bytes a dead letter carries at most."""
REASON_LIMIT = 2000
"""Characters of the reason kept."""


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

    >>> letter = make_dead_letter(payload=b"{", key=None, topic="t", partition=0, offset=7, error="decode",
    ...                           reason="bad", now=1.0)
    >>> letter.event_id, letter.payload_bytes, letter.payload_truncated
    ('dl-t-0-7', 1, False)
    >>> make_dead_letter(payload=bytes(5_000_000), key=None, topic="t", partition=0, offset=8, error="decode",
    ...                  reason="bad", now=1.0).payload_truncated
    True
    """
    payload = payload or b""
    return DeadLetter(
        event_id=f"dl-{topic}-{partition}-{offset}",
        timestamp=time.time() if now is None else now,
        source=DeadLetterSource(
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=None if key is None else base64.b64encode(key[:KEY_LIMIT]).decode("ascii"),
            consumer=consumer,
        ),
        error=error,  # type: ignore[arg-type]
        reason=_printable(reason[:REASON_LIMIT]),
        payload_b64=base64.b64encode(payload[:PAYLOAD_LIMIT]).decode("ascii"),
        payload_bytes=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_truncated=len(payload) > PAYLOAD_LIMIT,
    )


def _printable(text: str) -> str:
    """``text`` without lone surrogates (an exception's message may quote bad input; JSON cannot carry them)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def original_payload(letter: DeadLetter) -> bytes:
    """The bytes that were refused, for replay after a fix: only their first bytes if ``payload_truncated``."""
    return base64.b64decode(letter.payload_b64)

"""The events a serving process emits: one inference log per answered input, one label per piece of feedback.

Request ids come from the client when it has one (``X-Request-ID`` or the body), so its own logs, the label it
sends later and Pioneer's traces line up; otherwise the server makes one. Event ids are always fresh: a client
that retries a request with the same id produced two answers, and both are logged.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Any

from pioneer.events import InferenceLog, Input, Label, ModelName, ModelRef, Output
from pioneer.events.types import Source, Verdict
from pioneer.serving.slot import ServedModel

MAX_REQUEST_ID = 200
"""Longest request id the event schemas accept."""
REQUEST_ID_PATTERN = r"^[!-~]+$"
"""Printable ASCII without spaces: a request id travels back in HTTP headers and keys Kafka records."""
_REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)


_ID_BLOCK = 256
"""Ids drawn per read of the OS's random source."""
_ids: list[str] = []
_ids_lock = threading.Lock()


def new_id() -> str:
    """A fresh random id (uuid4, 32 hex digits), from the OS's random source.

    Why in blocks: ``uuid.uuid4()`` makes one ``getrandom`` call per id, and a serving process makes two ids per
    request; a system call releases the GIL, and on a busy CPU getting it back from the inference thread is most
    of an id's cost (docs/serving-speed.md). The ids are the same: 122 random bits, version 4, RFC 4122 variant.
    """
    with _ids_lock:
        if not _ids:
            _ids.extend(_uuid4_hex(os.urandom(16 * _ID_BLOCK)))
        return _ids.pop()


def _uuid4_hex(random: bytes) -> list[str]:
    """One uuid4 (as 32 hex digits) per 16 bytes of ``random``."""
    out = []
    for start in range(0, len(random), 16):
        n = int.from_bytes(random[start : start + 16], "big")
        n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        out.append(f"{n:032x}")
    return out


def check_request_id(request_id: str) -> str:
    """``request_id`` if the event schemas accept it; ``ValueError`` saying why not otherwise."""
    if not 1 <= len(request_id) <= MAX_REQUEST_ID:
        raise ValueError(f"request id must have 1 to {MAX_REQUEST_ID} characters, got {len(request_id)}")
    if _REQUEST_ID_RE.match(request_id) is None:
        raise ValueError("request id must be printable ASCII without spaces")
    return request_id


def inference_log(
    *,
    request_id: str,
    served: ServedModel,
    item: Input,
    prediction: Output,
    latency_ms: float,
    metadata: dict[str, Any] | None = None,
    timestamp: float | None = None,
) -> InferenceLog:
    """The log of one answered input, naming the exact version that answered."""
    return InferenceLog(
        event_id=new_id(),
        timestamp=time.time() if timestamp is None else timestamp,
        request_id=request_id,
        model=ModelRef(name=served.name, version=served.version),
        task=served.task,  # type: ignore[arg-type]
        input=item,
        prediction=prediction,
        latency_ms=max(0.0, latency_ms),
        metadata=metadata,
    )


def feedback_label(
    *,
    request_id: str,
    model: str,
    source: Source,
    expected: Output | None = None,
    verdict: Verdict | None = None,
    reason: str | None = None,
    judge: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    version: str | None = None,
) -> Label:
    """A label or verdict for an earlier request. ``ValueError`` when it carries neither."""
    if expected is None and verdict is None:
        raise ValueError("feedback needs an expected output (label, spans or text) or a verdict (pass or fail)")
    return Label(
        event_id=new_id(),
        timestamp=time.time(),
        request_id=check_request_id(request_id),
        source=source,
        model=ModelName(name=model, version=version),
        expected=expected,
        verdict=verdict,
        reason=reason,
        judge=judge,
        metadata=metadata,
    )

"""What feedback may enter the training signal: checked against the served model, once per (request, source),
at a bounded rate per source.

- a label must be one of the classifier's labels; spans must name the tagger's entity types and lie within the
  text of the request they label (when this process answered it recently: it remembers text lengths by request
  id, bounded); generation feedback carries text or a verdict.
- the second feedback of one source for one request id is answered ``duplicate`` and not published (so retries
  and replays do not weigh twice); the memory of what was seen is bounded, oldest forgotten first.
- each source has a token bucket: a flood from one judge or one rule cannot crowd out human labels.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from pioneer.serving import ServedModel
from streams.serving.payloads import FeedbackRequest

SHOWN_LABELS = 20
"""Labels named in a refusal (a model may know hundreds)."""


class FeedbackRefused(Exception):
    """Feedback the server will not publish: the HTTP status, a message, and when to retry (429)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate={rate!r} must be > 0 and burst={burst!r} ≥ 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until one will be there."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class BoundedMemory:
    """A set (or map) remembering at most ``size`` keys, forgetting the oldest first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: Any, value: Any = True) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._items.get(key)

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None


class FeedbackGuard:
    """Checks, deduplicates and paces feedback; see the module docstring."""

    def __init__(self, *, rate: float = 50.0, burst: int = 100, remembered: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buckets = {source: TokenBucket(rate, burst, clock) for source in ("human", "judge", "rule")}
        self.seen = BoundedMemory(remembered)
        self.text_lengths = BoundedMemory(remembered)

    def remember(self, request_id: str, text_chars: int) -> None:
        """An answered request, so feedback on it can be checked against its text."""
        self.text_lengths.put(request_id, text_chars)

    def check(self, body: FeedbackRequest, served: ServedModel | None) -> bool:
        """Raise :class:`FeedbackRefused` (422 wrong for the model, 429 too fast); False for a duplicate."""
        if served is None:
            raise FeedbackRefused(503, "no model is loaded yet; feedback cannot be checked against it")
        check_against_model(body, served, self.text_lengths.get(body.request_id))
        if (body.request_id, body.source) in self.seen:
            return False
        wait = self.buckets[body.source].take()
        if wait > 0:
            raise FeedbackRefused(429, f"too much {body.source} feedback; retry in {math.ceil(wait)} s",
                                  retry_after=wait)
        return True

    def accepted(self, body: FeedbackRequest) -> None:
        """Feedback published: a second one of its source for its request is a duplicate."""
        self.seen.put((body.request_id, body.source))


def check_against_model(body: FeedbackRequest, served: ServedModel, text_chars: int | None) -> None:
    """:class:`FeedbackRefused` (422) when the feedback cannot be an answer of ``served``'s task."""
    task = served.task
    if body.label is not None:
        if task != "classification":
            raise FeedbackRefused(422, f"label is for classification models; {served.name!r} does {task}")
        labels = getattr(served.adapter, "labels_", None)
        if labels and body.label not in labels:
            raise FeedbackRefused(422, f"label {body.label!r} is not one of the model's labels: {_names(labels)}")
    if body.spans is not None:
        if task != "entity_extraction":
            raise FeedbackRefused(422, f"spans are for entity extraction models; {served.name!r} does {task}")
        types = getattr(served.adapter, "entity_types_", None)
        for i, span in enumerate(body.spans):
            if types and span.label not in types:
                raise FeedbackRefused(422, f"spans[{i}]: entity type {span.label!r} is not one of the model's: "
                                      f"{_names(types)}")
            if text_chars is not None and span.end > text_chars:
                raise FeedbackRefused(422, f"spans[{i}]: end {span.end} is past the text's {text_chars} characters")
            if span.text is not None and len(span.text) != span.end - span.start:
                raise FeedbackRefused(422, f"spans[{i}]: text has {len(span.text)} characters, the span "
                                      f"{span.end - span.start}")
    if body.text is not None and task != "generation":
        raise FeedbackRefused(422, f"text is for generation models; {served.name!r} does {task}")


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:SHOWN_LABELS])
    return shown + (f" (and {len(names) - SHOWN_LABELS} more)" if len(names) > SHOWN_LABELS else "")

"""Publishing events from commands and scripts: ``publish_events(events, broker=...)``."""

from streams.io import publish_async, publish_events

__all__ = ["publish_async", "publish_events"]

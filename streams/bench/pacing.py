"""When each batch of a replayed deployment goes out.

A replay sends ``rate`` requests per second on its own clock. In real time the traffic runs on while the monitor
catches up and the trainer trains, as in a busy deployment, so what a run measures depends on how fast the machine
is. In lockstep the replay's clock stops while a retrain request waits or trains (as if the trainer kept up with
the traffic) and while the monitor is more than ``slack`` labelled requests behind, so the loop meets the same
traffic at the same points on any machine and under any load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streams.demo.live import LiveState

log = logging.getLogger(__name__)


class MonitorProgress:
    """How many labelled traces the monitor's pattern stage has read, from its Prometheus ``/metrics``."""

    def __init__(self, metrics_url: str, trace_topic: str) -> None:
        self.metrics_url = metrics_url
        self.trace_topic = trace_topic

    async def traces_read(self) -> int | None:
        """None while the endpoint does not answer (the monitor is still starting)."""
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self.metrics_url)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("monitor metrics unreadable", extra={"url": self.metrics_url, "error": str(exc)})
            return None
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "pioneer_events_in_total" and sample.labels.get("topic") == self.trace_topic:
                    return int(sample.value)
        return 0  # nothing read yet: the counter appears with its first trace


class ReplayPacer:
    """Paces a replay against ``state`` (the loop's events as the replay sees them) and, in lockstep, against
    ``monitor`` (which must then be given)."""

    def __init__(self, state: LiveState, rate: float, *, lockstep: bool = False, monitor: MonitorProgress | None = None,
                 slack: int = 0, poll: float = 0.5) -> None:
        self.state = state
        self.rate = rate
        self.lockstep = lockstep
        self.monitor = monitor
        self.slack = slack
        self.poll = poll
        self.held = 0.0
        """Seconds the traffic was held (always 0 in real time)."""
        self.held_for_monitor = 0.0
        """Of which the monitor lagged while no retrain request waited."""

    async def turn(self, sent: int, *, until: float, while_held: Callable[[], None] = lambda: None) -> float:
        """Wait until the request after ``sent`` is due and, in lockstep, until the loop has caught up with the
        traffic (or the run's clock passes ``until``); returns the time it goes out."""
        due = sent / self.rate - (self.state.now() - self.held)
        if due > 0:
            await asyncio.sleep(due)
        while self.lockstep and self.state.now() <= until:
            monitor_caught_up = await self._monitor_caught_up()
            if monitor_caught_up and not self.state.waiting():
                break  # no await from this check to the caller's send: nothing goes out mid-retrain
            started = self.state.now()
            await asyncio.sleep(self.poll)
            self.held += self.state.now() - started
            if not self.state.waiting():
                self.held_for_monitor += self.state.now() - started
            while_held()
        return self.state.now()

    async def _monitor_caught_up(self) -> bool:
        if self.monitor is None:
            return True
        read = await self.monitor.traces_read()
        return read is not None and read >= self.state.labels_sent - self.slack

"""Progress of one retrain job as ``TrainingProgress`` events, and a terminal view of them.

The loop reports through a :class:`ProgressReporter`; where the events go is the caller's choice: the
trainer worker publishes them, the CLI draws them with :class:`TqdmSink`, tests collect them in a list.
Training steps arrive many times a second, so step events are throttled (``min_interval``); stage changes
always go out. Event ids are ``<request_id>-progress-<n>``: unique within a run and stable across a replay.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from pioneer.events import ModelName, TrainingProgress
from pioneer.training.base import ProgressCallback

log = logging.getLogger(__name__)

ProgressSink = Callable[[TrainingProgress], None]


class ProgressReporter:
    """Builds and emits the progress events of one request.

    Parameters
    ----------
    request_id
        The retrain request (or ``train-...`` job) the events belong to.
    model
        The model name.
    sink
        Called with every event; None only logs.
    min_interval
        Seconds between two step events of the same candidate.
    """

    def __init__(
        self, request_id: str, model: str, sink: ProgressSink | None = None, *, min_interval: float = 1.0
    ) -> None:
        self.request_id = request_id
        self.model = model
        self.sink = sink
        self.min_interval = min_interval
        self._seq = 0

    def emit(
        self,
        stage: str,
        *,
        iteration: int | None = None,
        candidate: str | None = None,
        step: int | None = None,
        total_steps: int | None = None,
        metrics: dict[str, float] | None = None,
        message: str | None = None,
        version: str | None = None,
        send: bool = True,
    ) -> TrainingProgress:
        """Build the next event and hand it to the sink (``send=False``: build only; the final event of a job
        travels with the decision's events instead, so it is published once, after the decision is recorded)."""
        event = TrainingProgress(
            event_id=f"{self.request_id}-progress-{self._seq}",
            timestamp=time.time(),
            request_id=self.request_id,
            model=ModelName(name=self.model, version=version),
            stage=stage,  # type: ignore[arg-type]
            iteration=iteration,
            candidate=candidate,
            step=step,
            total_steps=total_steps,
            progress=None if not total_steps else min(1.0, (step or 0) / total_steps),
            metrics={k: float(v) for k, v in metrics.items()} if metrics else None,
            message=message,
        )
        self._seq += 1
        if step is None:
            log.info(message or stage, extra={"request_id": self.request_id, "stage": stage, "candidate": candidate})
        if send and self.sink is not None:
            self.sink(event)
        return event

    def training_callback(self, iteration: int, candidate: str) -> ProgressCallback:
        """A ``fit`` progress callback that emits throttled ``training`` events for one candidate."""
        last = [0.0]

        def callback(step: int, total_steps: int, logs: dict[str, float]) -> None:
            now = time.monotonic()
            if step < total_steps and now - last[0] < self.min_interval:
                return
            last[0] = now
            numbers = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
            self.emit(
                "training",
                iteration=iteration,
                candidate=candidate,
                step=step,
                total_steps=total_steps,
                metrics=numbers,
            )

        return callback


class TqdmSink:
    """Draws progress events in a terminal: one tqdm bar per candidate, one line per stage.

    Parameters
    ----------
    disable
        None draws only when stderr is a terminal.
    """

    def __init__(self, disable: bool | None = None) -> None:
        self.disable = (not sys.stderr.isatty()) if disable is None else disable
        self._bars: dict[str, object] = {}

    def __call__(self, event: TrainingProgress) -> None:
        if self.disable:
            return
        from tqdm import tqdm

        if event.stage == "training" and event.total_steps:
            key = f"{event.iteration}/{event.candidate}"
            bar = self._bars.get(key)
            if bar is None:
                bar = self._bars[key] = tqdm(
                    total=event.total_steps, desc=f"it{event.iteration} {event.candidate}", leave=True
                )
            bar.n = event.step or 0  # type: ignore[attr-defined]
            if event.metrics:
                bar.set_postfix({k: round(v, 4) for k, v in event.metrics.items()}, refresh=False)  # type: ignore[attr-defined]
            bar.refresh()  # type: ignore[attr-defined]
            if (event.step or 0) >= event.total_steps:
                bar.close()  # type: ignore[attr-defined]
            return
        tqdm.write(f"[{event.stage}] {event.message or ''}".rstrip())

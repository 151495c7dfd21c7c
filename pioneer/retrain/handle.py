"""``handle_request``: the one call the trainer worker makes per retrain request (dispatch by ``mode``)."""

from __future__ import annotations

from pioneer.events import RetrainRequest
from pioneer.registry import Registry
from pioneer.retrain.decision import ReleaseDecision
from pioneer.retrain.loop import Retrainer
from pioneer.retrain.naive import NaiveRetrainer
from pioneer.retrain.progress import ProgressSink
from pioneer.traces.store import TraceStore


def handle_request(
    request: RetrainRequest,
    *,
    registry: Registry,
    traces: TraceStore,
    retrainer: Retrainer | None = None,
    naive: NaiveRetrainer | None = None,
    progress: ProgressSink | None = None,
) -> ReleaseDecision:
    """Serve ``request`` with the Pioneer loop, or the naive baseline when ``request.mode == "naive"``.

    Idempotent by request id. Publish ``decision.events`` afterwards (then commit the consumer offset); a
    redelivered request returns the same events with the same ids and moves nothing.
    """
    if request.mode == "naive":
        return (naive or NaiveRetrainer()).run(request, registry=registry, traces=traces, progress=progress)
    return (retrainer or Retrainer()).run(request, registry=registry, traces=traces, progress=progress)

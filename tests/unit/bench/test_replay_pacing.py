"""Which retrains the replay sees waiting, and its pacing: in lockstep no request goes out while a retrain request
waits or trains, and the replay's clock stops meanwhile; in real time the traffic runs on."""

from __future__ import annotations

import asyncio

from pioneer.events import Budget, ModelName, ModelRef, RetrainRequest, TrainingProgress
from streams.bench.pacing import MonitorProgress, ReplayPacer
from streams.bench.stalls import busy_intervals
from streams.brokers import free_port
from streams.demo.live import LiveState, _record
from streams.metrics import StreamMetrics


def _request(request_id: str) -> RetrainRequest:
    return RetrainRequest(event_id=request_id, timestamp=0.0, request_id=request_id,
                          model=ModelRef(name="m", version="v"), patterns=[], reason="test",
                          budget=Budget(max_iterations=1, max_candidates=1))


def _progress(request_id: str, stage: str, n: int = 1) -> TrainingProgress:
    return TrainingProgress(event_id=f"{request_id}-progress-{n}", timestamp=0.0, request_id=request_id,
                            model=ModelName(name="m"), stage=stage)  # type: ignore[arg-type]


def _waiting_state() -> LiveState:
    state = LiveState()
    _record(state, _request("r-1"))
    return state


def _answer(state: LiveState) -> None:
    _record(state, _progress("r-1", "failed"))


def test_a_failed_retrain_ends_its_request_so_the_replay_and_the_stall_count_go_on() -> None:
    state = LiveState()
    for event in (_request("r-1"), _request("r-2"), _progress("r-1", "training")):
        _record(state, event)
    assert [r.request_id for r in state.waiting()] == ["r-1", "r-2"]  # training is not an answer
    _record(state, _progress("r-1", "failed", 2))
    assert [r.request_id for r in state.waiting()] == ["r-2"]
    _record(state, _progress("r-2", "failed", 9))
    assert state.waiting() == []
    labels = [m.label for m in state.milestones]
    assert labels == ["retrain requested", "retrain requested", "retrain failed", "retrain failed"]
    assert len(busy_intervals(state.milestones)) == 1 and busy_intervals(state.milestones)[0][1] != float("inf")


async def test_in_real_time_a_waiting_retrain_holds_nothing() -> None:
    state = _waiting_state()
    pacer = ReplayPacer(state, rate=1000.0)
    await pacer.turn(0, until=60.0)
    assert pacer.held == 0.0 and state.waiting()


async def test_in_lockstep_a_request_waits_for_the_retrain_s_answer_and_the_replay_clock_stops_meanwhile() -> None:
    state = _waiting_state()
    pacer = ReplayPacer(state, rate=10.0, lockstep=True, poll=0.01)

    async def answer_later() -> None:
        await asyncio.sleep(0.2)
        _answer(state)

    answering = asyncio.create_task(answer_later())
    at = await pacer.turn(0, until=60.0)
    await answering
    answered_at = state.milestones[-1].at
    assert state.milestones[-1].label == "retrain failed" and at >= answered_at and pacer.held > 0.0
    # The fifth batch is due 0.5 s into the replay's clock, which did not run while the traffic was held.
    later = await pacer.turn(5, until=60.0)
    assert later >= 0.5 + pacer.held - 0.02


async def test_a_retrain_never_answered_holds_the_traffic_only_until_the_deadline() -> None:
    state = _waiting_state()
    pacer = ReplayPacer(state, rate=10.0, lockstep=True, poll=0.01)
    at = await pacer.turn(0, until=state.now() + 0.05)
    assert state.waiting() and at > 0.05 and pacer.held > 0.0


def _served_metrics() -> tuple[StreamMetrics, MonitorProgress]:
    """A real Prometheus endpoint, as the monitor serves it with ``--metrics-port``."""
    metrics = StreamMetrics()
    port = free_port()
    metrics.serve(port, host="127.0.0.1")
    return metrics, MonitorProgress(f"http://127.0.0.1:{port}/metrics", "pioneer.labeled-traces")


async def test_the_monitor_s_progress_is_read_from_its_metrics() -> None:
    metrics, progress = _served_metrics()
    assert await progress.traces_read() == 0  # nothing read yet
    metrics.events_in.labels("pioneer.labeled-traces").inc(26)
    metrics.events_in.labels("pioneer.inference-logs").inc(100)  # another topic does not count
    assert await progress.traces_read() == 26
    assert await MonitorProgress(f"http://127.0.0.1:{free_port()}/metrics", "t").traces_read() is None


async def test_in_lockstep_the_traffic_waits_for_a_monitor_more_than_the_slack_behind() -> None:
    metrics, progress = _served_metrics()
    state = LiveState()
    state.labels_sent = 30
    pacer = ReplayPacer(state, rate=10.0, lockstep=True, monitor=progress, slack=4, poll=0.01)
    metrics.events_in.labels("pioneer.labeled-traces").inc(25)  # 5 behind: held
    caught_up_at: list[float] = []

    async def catch_up_later() -> None:
        await asyncio.sleep(0.2)
        caught_up_at.append(state.now())
        metrics.events_in.labels("pioneer.labeled-traces").inc(1)  # 4 behind: within the slack

    catching_up = asyncio.create_task(catch_up_later())
    at = await pacer.turn(0, until=60.0)
    await catching_up
    assert caught_up_at and at >= caught_up_at[0] and pacer.held > 0.0

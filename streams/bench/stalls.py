"""Stalls: stretches of traffic in which the model kept failing and the loop did nothing about it.

At each step the failure rate of the last ``window`` seconds of answers is compared to ``threshold``; the loop
is *idle* when no retrain request is waiting or in training (requests are served one at a time, each ended by a
release, a rejection or a failure). A stall is a run of consecutive steps both failing and idle.

>>> from streams.demo.live import Answer, Milestone
>>> answers = [Answer(at=float(t), segment="traffic", correct=t % 10 != 0, version="v") for t in range(600)]
>>> longest_stall(answers, [])                                     # 10% failing, nothing ever requested
530.0
>>> longest_stall(answers, [Milestone(100.0, "retrain requested"), Milestone(400.0, "candidate rejected")])
180.0
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.demo.live import Answer, Milestone

OPENS = ("retrain requested",)
CLOSES = ("released", "candidate rejected", "retrain failed")


def busy_intervals(milestones: Sequence[Milestone]) -> list[tuple[float, float]]:
    """When at least one retrain request was waiting or in training (an open one lasts forever)."""
    intervals: list[tuple[float, float]] = []
    open_count, since = 0, 0.0
    for milestone in sorted(milestones, key=lambda m: m.at):
        if milestone.label.startswith(OPENS):
            if open_count == 0:
                since = milestone.at
            open_count += 1
        elif milestone.label.startswith(CLOSES) and open_count > 0:
            open_count -= 1
            if open_count == 0:
                intervals.append((since, milestone.at))
    if open_count:
        intervals.append((since, float("inf")))
    return intervals


def longest_stall(answers: Sequence[Answer], milestones: Sequence[Milestone], *, threshold: float = 0.05,
                  window: float = 60.0, step: float = 10.0) -> float:
    """Seconds of the longest stall (0 when there is none)."""
    traffic = sorted(a.at for a in answers)
    if not traffic:
        return 0.0
    failures = sorted(a.at for a in answers if not a.correct)
    busy = busy_intervals(milestones)
    longest, run_start = 0.0, None
    t = traffic[0] + window
    while t <= traffic[-1] + 1e-9:
        seen = _count_in(traffic, t - window, t)
        failing = seen > 0 and _count_in(failures, t - window, t) / seen > threshold
        idle = not any(start <= t <= end for start, end in busy)
        if failing and idle:
            run_start = t if run_start is None else run_start
            longest = max(longest, t - run_start)
        else:
            run_start = None
        t += step
    return longest


def _count_in(times: Sequence[float], start: float, end: float) -> int:
    from bisect import bisect_right

    return bisect_right(times, end) - bisect_right(times, start)


def answered_while_busy(answers: Sequence[Answer], milestones: Sequence[Milestone]) -> int:
    """Requests sent while a retrain request waited or trained: the traffic a lockstep replay holds back."""
    busy = busy_intervals(milestones)
    return sum(1 for a in answers if any(start < a.at < end for start, end in busy))

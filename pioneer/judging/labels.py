"""A judge's verdict as a label event: the one shape the judge worker publishes and the benchmarks join.

The label carries ``source="judge"``, the judge's identity and score, and the judge's correction where it wrote
one (what a failing request trains on). Its id is derived from the log and the judge, so a replay produces the
same label, which the join drops as a duplicate.

>>> from pioneer.events import Input, ModelRef, Output
>>> from pioneer.judging.base import Verdict
>>> log = InferenceLog(event_id="e1", timestamp=0, request_id="r1", model=ModelRef(name="m", version="v"),
...     task="generation", input=Input(text="What is 2 + 2?"), prediction=Output(text="5"), latency_ms=1)
>>> label = judge_label(log, Verdict(verdict="fail", score=0.0, reason="answered 5, expected 4", judge="numeric",
...     correction=Output(text="4")), now=1.0)
>>> label.source, label.verdict, label.expected.text, label.event_id == judge_label(log, Verdict(verdict="fail",
...     score=0.0, reason="", judge="numeric"), now=2.0).event_id
('judge', 'fail', '4', True)
"""

from __future__ import annotations

import hashlib

from pioneer.events import InferenceLog, Label, ModelName
from pioneer.judging.base import Verdict


def label_id(log_event_id: str, judge: str) -> str:
    """Deterministic: the same judge on the same log always yields the same label id."""
    return "jl-" + hashlib.blake2b(f"{log_event_id}\x00{judge}".encode(), digest_size=12).hexdigest()


def judge_label(log: InferenceLog, verdict: Verdict, now: float) -> Label:
    """The label event carrying ``verdict`` on ``log``."""
    return Label(
        event_id=label_id(log.event_id, verdict.judge), timestamp=now, request_id=log.request_id, source="judge",
        model=ModelName(name=log.model.name, version=log.model.version), verdict=verdict.verdict,
        expected=verdict.correction, reason=verdict.reason, judge={"name": verdict.judge, "score": verdict.score},
    )

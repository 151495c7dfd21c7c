"""The labelled-trace store the trainer queries (embedded default: SQLite fed from the labeled-trace topic)."""

from pioneer.traces.examples import (
    has_content,
    output_key,
    render,
    target_output,
    trace_to_example,
)
from pioneer.traces.holdout import RESERVED_SHARE, is_reserved
from pioneer.traces.simulate import labeled_trace
from pioneer.traces.store import TraceStore

__all__ = [
    "RESERVED_SHARE",
    "TraceStore",
    "has_content",
    "is_reserved",
    "labeled_trace",
    "output_key",
    "render",
    "target_output",
    "trace_to_example",
]

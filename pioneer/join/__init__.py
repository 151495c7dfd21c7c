"""Joining inference logs with their labels, and deciding which traces are failures."""

from pioneer.join.buffer import JoinBuffer, JoinStats, PendingRequest
from pioneer.join.outcome import assess
from pioneer.join.trace import labeled_trace, trace_id

__all__ = ["JoinBuffer", "JoinStats", "PendingRequest", "assess", "labeled_trace", "trace_id"]

"""Serving without the wire: the model slot and hot swap, micro-batching, the disk spill, the events served.

The HTTP server and the Kafka parts that use these live in :mod:`streams.serving`.
"""

from pioneer.serving.batcher import BatchStats, MicroBatcher
from pioneer.serving.inference import WARMUP_TEXT, accelerate, run_inputs, warm_up
from pioneer.serving.records import (
    check_request_id,
    feedback_label,
    inference_log,
    new_id,
)
from pioneer.serving.releases import release_target
from pioneer.serving.slot import ModelNotReady, ModelSlot, ServedModel, Swap
from pioneer.serving.spill import SpillBatch, SpillQueue, SpillStats
from pioneer.serving.swap import Loader, ModelSwapper, Target

__all__ = [
    "WARMUP_TEXT",
    "BatchStats",
    "Loader",
    "MicroBatcher",
    "ModelNotReady",
    "ModelSlot",
    "ModelSwapper",
    "ServedModel",
    "SpillBatch",
    "SpillQueue",
    "SpillStats",
    "Swap",
    "Target",
    "accelerate",
    "check_request_id",
    "feedback_label",
    "inference_log",
    "new_id",
    "release_target",
    "run_inputs",
    "warm_up",
]

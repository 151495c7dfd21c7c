"""Running an adapter on served inputs, and warming it up before it serves.

Generation inputs may carry their own system prompt (the inference log records it, and the trainer trains on
it); the generation adapter's ``generate`` takes one per text, so a batch of mixed prompts is one call. Other
tasks take only text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pioneer.events import Input, Output
from pioneer.training.base import TaskAdapter

WARMUP_TEXT = "Hello, is this thing on?"


def accelerate(
    adapter: TaskAdapter, engine: str = "onnx", *, threads: int | None = None, like: TaskAdapter | None = None
) -> TaskAdapter:
    """``adapter``, set to answer on ``engine`` (:data:`pioneer.inference.ENGINES`) where it has a fast path
    (encoder classifiers); other adapters answer as trained. With ``torch``, torch's intra-op threads are capped
    at ``threads`` (process-wide: a serving process runs one model at a time). ``like``: the adapter serving now,
    whose fast path a new head on the same frozen encoder shares."""
    from pioneer.inference import ENGINES, default_threads

    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "torch":
        import torch

        torch.set_num_threads(threads or default_threads())
    method = getattr(adapter, "accelerate", None)
    return adapter if method is None else method(engine, threads=threads, like=like)


def run_inputs(adapter: TaskAdapter, inputs: Sequence[Input]) -> list[Output]:
    """One output per input, in order. Blocking (runs the model): call it from a worker thread."""
    if not inputs:
        return []
    texts = [item.text for item in inputs]
    generate = getattr(adapter, "generate", None)
    if adapter.task == "generation" and generate is not None and any(i.system_prompt is not None for i in inputs):
        return [Output(text=answer) for answer in generate(texts, [i.system_prompt for i in inputs])]
    outputs = adapter.predict(texts)
    if len(outputs) != len(texts):
        raise RuntimeError(f"{type(adapter).__name__}.predict returned {len(outputs)} outputs for {len(texts)} inputs")
    return outputs


def warm_up(adapter: TaskAdapter, text: str = WARMUP_TEXT, rounds: int = 2) -> float:
    """Run the model a few times before it serves (lazy initialisation, allocator and kernel caches), so the
    first real requests after a swap are not the slow ones. Returns the seconds spent.

    Raises whatever the model raises: a model that cannot answer a warm-up request must not be swapped in.
    """
    started = time.perf_counter()
    for _ in range(rounds):
        outputs = run_inputs(adapter, [Input(text=text)])
        if len(outputs) != 1:
            raise RuntimeError(f"warm-up got {len(outputs)} outputs for 1 input")
    return time.perf_counter() - started

"""``serving_parity``: whether a candidate answers on the serving engine as it answered when the gate judged it.

The gate scores candidates as trained (torch); ``pioneer serve`` and the monitor answer through a fast path
(ONNX Runtime, :mod:`pioneer.inference`). A release's promise is about the answers users get, so the gate report
states how many gate-set predictions the serving engine gives unchanged, and refuses a candidate below
``min_agreement``. Adapters without a fast path answer the same way everywhere and get no check.
"""

from __future__ import annotations

from collections.abc import Sequence

from pioneer.events import GateCheck
from pioneer.training.base import Example, TaskAdapter

SERVING_ENGINE = "onnx"
"""The engine ``pioneer serve`` and the monitor use unless told otherwise."""
MIN_AGREEMENT = 0.995


def serving_parity(
    adapter: TaskAdapter, examples: Sequence[Example], *, engine: str = SERVING_ENGINE,
    min_agreement: float = MIN_AGREEMENT,
) -> GateCheck | None:
    """The check, or None when ``adapter`` has no fast path (or there is nothing to compare). ``adapter`` is left
    answering as trained."""
    accelerate = getattr(adapter, "accelerate", None)
    if accelerate is None or engine == "torch" or not examples:
        return None
    texts = [e.text for e in examples]
    as_trained = adapter.predict(texts)
    try:
        accelerate(engine)
        if getattr(adapter, "engine_", engine) != engine:  # e.g. a model on a GPU keeps torch: nothing differs
            return None
        served = adapter.predict(texts)
    finally:
        accelerate("torch")
    same = sum(a.label == b.label and a.spans == b.spans and a.text == b.text for a, b in zip(as_trained, served,
                                                                                            strict=True))
    share = same / len(texts)
    return GateCheck(
        name="serving_parity", passed=share >= min_agreement, observed=share, threshold=min_agreement,
        detail=f"{same} of {len(texts)} gate-set answers are the same on {engine} (what pioneer serve runs) as on "
        f"torch (what the gate scored): {100 * share:.2f}%, at least {100 * min_agreement:.1f}% required.",
    )

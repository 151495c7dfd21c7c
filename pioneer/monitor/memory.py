"""The most recent failures of a model, with what the trigger and the trainer need of each.

Their embeddings say which cluster each falls in now (breadth, and the members of a pattern); their request ids
let the trainer collect their traces; the version that served them keeps one version's evidence apart from the
next one's.

>>> mem = FailureMemory(capacity=2)
>>> mem.add(["r1", "r2", "r3"], np.eye(3), versions=["v1", "v1", "v2"], expected=["a", "b", "c"],
...         predicted=["x", "x", "x"], texts=["one", "two", "three"], times=[1.0, 2.0, 3.0])
>>> mem.request_ids, mem.of_version("v1"), mem.of_version("v2")
(['r2', 'r3'], [0], [1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TEXT_CHARS = 500
"""Characters of each failure's text kept (for exemplars)."""


class FailureMemory:
    """A bounded first-in first-out memory of failures (``capacity`` most recent)."""

    def __init__(self, capacity: int = 4096) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1; got {capacity!r}")
        self.capacity = capacity
        self.request_ids: list[str] = []
        self.versions: list[str] = []
        self.expected: list[str | None] = []
        self.predicted: list[str | None] = []
        self.texts: list[str] = []
        self.times: list[float] = []
        self.vectors = np.zeros((0, 0), dtype=np.float16)

    def __len__(self) -> int:
        return len(self.request_ids)

    def add(
        self,
        request_ids: Sequence[str],
        vectors: np.ndarray,
        *,
        versions: Sequence[str],
        expected: Sequence[str | None],
        predicted: Sequence[str | None],
        texts: Sequence[str],
        times: Sequence[float],
    ) -> None:
        if not request_ids:
            return
        vectors = np.asarray(vectors, dtype=np.float16)
        if self.vectors.size == 0:
            self.vectors = np.zeros((0, vectors.shape[1]), dtype=np.float16)
        keep = -self.capacity
        self.request_ids = (self.request_ids + list(request_ids))[keep:]
        self.versions = (self.versions + list(versions))[keep:]
        self.expected = (self.expected + list(expected))[keep:]
        self.predicted = (self.predicted + list(predicted))[keep:]
        self.texts = (self.texts + [t[:TEXT_CHARS] for t in texts])[keep:]
        self.times = (self.times + [float(t) for t in times])[keep:]
        self.vectors = np.concatenate([self.vectors, vectors])[keep:]

    def of_version(self, version: str) -> list[int]:
        """Positions of the failures served by ``version``."""
        return [i for i, v in enumerate(self.versions) if v == version]

    # ------------------------------------------------------------------------------------------ persistence

    def state(self) -> tuple[np.ndarray, dict]:
        meta = {"capacity": self.capacity, "request_ids": self.request_ids, "versions": self.versions,
                "expected": self.expected, "predicted": self.predicted, "texts": self.texts, "times": self.times}
        return self.vectors, meta

    @classmethod
    def from_state(cls, vectors: np.ndarray, meta: dict) -> FailureMemory:
        mem = cls(int(meta["capacity"]))
        mem.request_ids, mem.versions = list(meta["request_ids"]), list(meta["versions"])
        mem.expected, mem.predicted = list(meta["expected"]), list(meta["predicted"])
        mem.texts, mem.times = list(meta["texts"]), [float(t) for t in meta["times"]]
        mem.vectors = np.asarray(vectors, dtype=np.float16)
        if mem.vectors.ndim != 2:
            mem.vectors = np.zeros((0, 0), dtype=np.float16)
        return mem

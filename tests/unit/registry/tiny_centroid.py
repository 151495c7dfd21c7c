"""A tiny real adapter (bag-of-words nearest centroid, safetensors on disk) for registry tests.

The registry is what is under test here; this adapter only has to save and load real files, deterministically,
in milliseconds.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
from safetensors.numpy import load_file, save_file

from pioneer.events import Output
from pioneer.training import BaseTrainConfig, Evaluation, Example, TaskAdapter

DIM = 64


def _vector(text: str) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for word in text.lower().split():
        v[zlib.crc32(word.encode()) % DIM] += 1.0
    return v / max(float(np.linalg.norm(v)), 1e-6)


class CentroidClassifier(TaskAdapter):
    task: ClassVar[str] = "classification"
    metric_name: ClassVar[str] = "accuracy"

    def __init__(self) -> None:
        self.config = BaseTrainConfig(progress_bar=False)
        self.labels_: list[str] = []
        self.centroids_ = np.zeros((0, DIM), dtype=np.float32)

    def _fit(self, train: Sequence[Example], *, validation=None, progress=None) -> Self:
        self.labels_ = sorted({e.label for e in train if e.label is not None})
        self.centroids_ = np.stack(
            [np.mean([_vector(e.text) for e in train if e.label == label], axis=0) for label in self.labels_]
        ).astype(np.float32)
        return self

    def predict(self, texts: Sequence[str]) -> list[Output]:
        scores = np.stack([_vector(t) for t in texts]) @ self.centroids_.T
        return [Output(label=self.labels_[int(i)]) for i in scores.argmax(axis=1)]

    def evaluate(self, examples: Sequence[Example]) -> Evaluation:
        predictions = self.predict([e.text for e in examples])
        correct = [p.label == e.label for p, e in zip(predictions, examples, strict=True)]
        return Evaluation(
            metric_name="accuracy",
            metric=sum(correct) / max(len(correct), 1),
            ids=[e.id for e in examples],
            correct=correct,
            predictions=predictions,
        )

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"centroids": self.centroids_}, str(directory / "model.safetensors"))
        # fit_stats changes on every save, as real adapters' run statistics do; it must not change the version.
        config = {"labels": self.labels_, "fit_stats": {"saved_at": time.perf_counter()}}
        (directory / "config.json").write_text(json.dumps(config, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> Self:
        adapter = cls()
        adapter.labels_ = json.loads((directory / "config.json").read_text())["labels"]
        adapter.centroids_ = load_file(str(directory / "model.safetensors"))["centroids"]
        return adapter


TRAIN = [
    Example(id="a1", text="move money to savings", label="transfer"),
    Example(id="a2", text="send cash to my checking", label="transfer"),
    Example(id="b1", text="what is my balance", label="balance"),
    Example(id="b2", text="how much money do i have", label="balance"),
]

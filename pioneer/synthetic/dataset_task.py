"""A demo task from a user's labelled dataset: one family of phrasings of one label becomes the blind spot.

The label with the most examples is split into families by k-means over sentence embeddings; its largest
family is withheld from the first model's training data and appears in live traffic partway through, as a
new way of asking for a known intent would.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from pioneer.training.base import Example


class DatasetTask:
    """The same interface as :class:`~pioneer.synthetic.BankingTask`, over given examples."""

    def __init__(self, examples: Sequence[Example], *, seed: int = 0, families: int = 3, embedder=None) -> None:
        labelled = [e for e in examples if e.label is not None]
        by_label: dict[str, list[Example]] = defaultdict(list)
        for example in labelled:
            by_label[example.label].append(example)  # type: ignore[index]
        if len(by_label) < 2:
            raise ValueError("the dataset needs at least two labels")
        self.seed = seed
        self.blind_label = max(sorted(by_label), key=lambda label: len(by_label[label]))
        members = by_label[self.blind_label]
        if embedder is None:
            from pioneer.embedding import Embedder

            embedder = Embedder()
        from sklearn.cluster import KMeans

        vectors = embedder.encode([e.text for e in members])
        k = max(2, min(families, len(members) // 10))
        assignment = KMeans(n_clusters=k, n_init=5, random_state=seed).fit_predict(np.asarray(vectors))
        largest = int(np.bincount(assignment).argmax())
        rng = random.Random(seed)
        self._blind = [e for e, a in zip(members, assignment) if a == largest]
        usual = [e for e in labelled if not (e.label == self.blind_label and e in self._blind)]
        rng.shuffle(self._blind)
        rng.shuffle(usual)
        self._usual_by_label: dict[str, list[Example]] = defaultdict(list)
        for example in usual:
            self._usual_by_label[example.label].append(example)  # type: ignore[index]
        self.labels = sorted(self._usual_by_label)

    def training_set(self, per_intent: int = 30) -> list[Example]:
        return [e for label in self.labels for e in self._usual_by_label[label][:per_intent]]

    def evaluation_set(self, per_intent: int = 15, *, after: int = 30) -> list[Example]:
        return [e for label in self.labels for e in self._usual_by_label[label][after : after + per_intent]]

    def usual(self, n: int, stream: str = "traffic") -> list[Example]:
        rng = random.Random(f"{self.seed}-{stream}")
        pool = [e for label in self.labels for e in self._usual_by_label[label][45:]] or [
            e for label in self.labels for e in self._usual_by_label[label]
        ]
        return [self._renamed(rng.choice(pool), f"{stream}-{i}") for i in range(n)]

    def blind_spot(self, n: int, stream: str = "blind") -> list[Example]:
        rng = random.Random(f"{self.seed}-{stream}")
        return [self._renamed(rng.choice(self._blind), f"{stream}-{i}") for i in range(n)]

    @staticmethod
    def _renamed(example: Example, new_id: str) -> Example:
        return Example(text=example.text, label=example.label, id=new_id)

"""Text vectors for neighbour search in diagnosis and curriculum building.

Two encoders share one verb, ``encode(texts) -> unit rows``:

- :class:`TfidfEncoder` (the default): word and character n-gram TF-IDF fitted on the texts it is given. It
  needs no model, runs in milliseconds, and sees surface similarity (shared words, typos), which is what
  near-duplicate and label-disagreement checks need most.
- ``pioneer.embedding.Embedder`` (all-MiniLM-L6-v2): semantic similarity, for paraphrase-level neighbours.
  Pass it wherever an ``encoder`` is accepted.

Because TF-IDF is fitted on what it encodes, callers encode everything they compare in one call.

>>> encoder = TfidfEncoder()
>>> vectors = encoder.encode(["move money to savings", "move cash to savings", "play some jazz"])
>>> sims = cosine(vectors, vectors)
>>> bool(sims[0, 1] > sims[0, 2])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised rows (dense numpy or scipy sparse). An encoder may say below
    which cosine similarity two inputs have nothing in common (``unrelated_below``); the diagnosis reads it."""

    def encode(self, texts: Sequence[str]) -> Any: ...


UNRELATED_BELOW = 0.1
"""Cosine similarity below which two inputs share nothing, for an encoder that does not say (TF-IDF's scale)."""


class TfidfEncoder:
    """Word (1-2) and character (2-4, within word bounds) n-gram TF-IDF, L2-normalised, fitted per call.

    Parameters
    ----------
    max_features
        Vocabulary cap per analyzer (keeps memory bounded on large pools).
    """

    unrelated_below = UNRELATED_BELOW

    def __init__(self, max_features: int = 50_000) -> None:
        if max_features < 1:
            raise ValueError(f"max_features must be >= 1, got {max_features!r}")
        self.max_features = max_features

    def __repr__(self) -> str:
        return f"TfidfEncoder(max_features={self.max_features})"

    def encode(self, texts: Sequence[str]) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion
        from sklearn.preprocessing import normalize

        texts = [t if t.strip() else "<empty>" for t in texts]
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        union = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=self.max_features)),
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=self.max_features
                    ),
                ),
            ]
        )
        return normalize(union.fit_transform(texts).tocsr()).astype(np.float32)


def cosine(a: Any, b: Any) -> np.ndarray:
    """Dense ``(len(a), len(b))`` cosine similarities of two sets of unit rows (dense or sparse)."""
    product = a @ b.T
    return np.asarray(product.toarray() if hasattr(product, "toarray") else product, dtype=np.float32)


def take(vectors: Any, rows: Sequence[int]) -> Any:
    """Rows of a dense or sparse matrix."""
    return vectors[np.asarray(rows, dtype=np.int64)]

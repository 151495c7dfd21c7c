"""Embedder: cheap to build, lazy, and unit vectors out (the real model run is marked slow)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pioneer.embedding import Embedder, default_model_path


def test_construction_validates_and_loads_nothing() -> None:
    emb = Embedder()
    assert emb._model is None
    assert emb.model_path == default_model_path()
    assert os.path.isdir(emb.model_path)
    for bad in ({"batch_size": 0}, {"model": ""}, {"device": 3}):
        with pytest.raises(ValueError):
            Embedder(**bad)
    with pytest.raises(TypeError):
        emb.encode("one string")


@pytest.mark.slow
def test_encode_returns_unit_float32_rows() -> None:
    emb = Embedder(batch_size=2, device="cpu")
    X = emb.encode(["move money to savings", "transfer to my savings account", "what's the weather"])
    assert X.shape == (3, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2]
    assert emb.encode([]).shape == (0, 384)

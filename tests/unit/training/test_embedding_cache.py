"""Embedding cache: a set another adapter encoded is read from its shard, not encoded again (R is embedded once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pioneer.training.embeddings import EmbeddingCache


def test_a_cache_opened_earlier_reads_what_another_cache_wrote_since(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)

    early, late = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    early.encode(["a"], compute)  # loaded before the other wrote anything
    late.encode(["bb", "ccc"], compute)
    vectors = early.encode(["a", "bb", "ccc"], compute)
    assert calls == [["a"], ["bb", "ccc"]]  # nothing encoded twice
    assert vectors.tolist() == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
    assert EmbeddingCache(None).encode(["dd"], compute).tolist() == [[2.0, 1.0]] and calls[-1] == ["dd"]


def test_a_tokenizer_gives_the_same_fingerprint_before_and_after_it_truncates_and_pads() -> None:
    """Calling a fast tokenizer with truncation or padding rewrites its backend's state; the fingerprint must not
    follow it, or the cache's folder changes after the first fit and every embedding is computed again."""
    from pioneer.training import ClassificationConfig
    from pioneer.training.backbone import load_base_encoder
    from pioneer.training.embeddings import model_fingerprint

    tokenizer, encoder = load_base_encoder(ClassificationConfig())
    before = model_fingerprint(encoder, tokenizer, 48)
    tokenizer(["a query", "a longer query than that"], truncation=True, max_length=8, padding=True)
    assert model_fingerprint(encoder, tokenizer, 48) == before
    assert model_fingerprint(encoder, tokenizer, 32) != before  # the settings still tell caches apart

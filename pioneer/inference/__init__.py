"""Inference engines for encoders: the fast path serving and the monitor use, apart from training (torch)."""

from pioneer.inference.onnx_encoder import (
    ENGINES,
    OnnxSentenceEncoder,
    default_threads,
    onnx_sentence_encoder,
)

__all__ = ["ENGINES", "OnnxSentenceEncoder", "default_threads", "onnx_sentence_encoder"]

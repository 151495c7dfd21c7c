"""Base models: the offline defaults, local folders, GGUF files and Hugging Face ids, loaded safely."""

from pioneer.models.gguf import convert_gguf, converted_gguf
from pioneer.models.resolve import (
    DEFAULT_CAUSAL_LM,
    DEFAULT_ENCODER,
    default_encoder_path,
    from_pretrained,
    gguf_file_of,
    resolve_causal_lm,
    resolve_encoder,
    smollm2_gguf_path,
)

__all__ = [
    "DEFAULT_CAUSAL_LM",
    "DEFAULT_ENCODER",
    "convert_gguf",
    "converted_gguf",
    "default_encoder_path",
    "from_pretrained",
    "gguf_file_of",
    "resolve_causal_lm",
    "resolve_encoder",
    "smollm2_gguf_path",
]

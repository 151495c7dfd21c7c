"""Load, LoRA-wrap, save and reload the encoder under the classification and entity-extraction heads.

One place decides what a saved folder holds for the encoder, by how it was trained:

| trained as | saved as | loaded as |
| --- | --- | --- |
| frozen (classification ``head``) | nothing: the base model is named in the config | the base model |
| full fine-tune | ``encoder/`` (``save_pretrained``: safetensors + tokenizer) | that folder |
| LoRA | ``lora/`` (peft adapter, safetensors) | base model + adapter, merged in place for speed |

Saving only what changed keeps registry versions small (a LoRA classifier is a few MB instead of ~90 MB).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pioneer.errors import ConfigError
from pioneer.models import from_pretrained, resolve_encoder
from pioneer.training.base import BaseTrainConfig

log = logging.getLogger(__name__)

ENCODER_DIR = "encoder"
LORA_DIR = "lora"


def load_tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = from_pretrained(AutoTokenizer, source)
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"{source}: the tokenizer is not a fast (Rust) tokenizer; Pioneer needs character offsets. "
            "Set base_model to a model with a tokenizer.json."
        )
    return tokenizer


def load_base_encoder(config: BaseTrainConfig) -> tuple[Any, Any]:
    """(tokenizer, encoder) of ``config.base_model`` (None = offline all-MiniLM-L6-v2), in float32."""
    import torch
    from transformers import AutoModel

    source = resolve_encoder(config.base_model)
    return load_tokenizer(source), from_pretrained(AutoModel, source, dtype=torch.float32)


def add_lora(encoder: Any, config: BaseTrainConfig) -> Any:
    """Wrap ``encoder`` in LoRA adapters (only they train; the heads outside stay fully trainable)."""
    from peft import LoraConfig, get_peft_model

    targets = list(config.lora_target_modules) if config.lora_target_modules else None
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=targets)
    try:
        return get_peft_model(encoder, lora)
    except ValueError as exc:
        raise ConfigError(
            f"LoRA could not pick target modules for {type(encoder).__name__}: {exc}. "
            "Set lora_target_modules (e.g. ('query', 'value')) in the config."
        ) from exc


def save_encoder(encoder: Any, tokenizer: Any, directory: Path, *, mode: str) -> None:
    """Write what ``mode`` (``frozen``, ``full``, ``lora``) needs; see the module table."""
    if mode == "full":
        encoder.save_pretrained(directory / ENCODER_DIR)
        tokenizer.save_pretrained(directory / ENCODER_DIR)
    elif mode == "lora":
        encoder.save_pretrained(directory / LORA_DIR)
    elif mode != "frozen":
        raise ValueError(f"mode={mode!r}; expected frozen, full or lora.")


def load_saved_encoder(directory: Path, config: BaseTrainConfig, *, mode: str) -> tuple[Any, Any]:
    """(tokenizer, encoder) as :func:`save_encoder` left them, LoRA merged into the weights."""
    import torch
    from transformers import AutoModel

    if mode == "full":
        source = str(directory / ENCODER_DIR)
        return load_tokenizer(source), from_pretrained(AutoModel, source, dtype=torch.float32)
    tokenizer, encoder = load_base_encoder(config)
    if mode == "lora":
        from peft import PeftModel

        folder = require_safetensors(directory / LORA_DIR)
        # merge_adapter (not merge_and_unload): full speed, and a re-save still writes just the adapter.
        encoder = PeftModel.from_pretrained(encoder, str(folder), is_trainable=False)
        encoder.merge_adapter()
    return tokenizer, encoder


HEAD_FILE = "head.safetensors"


def save_encoder_model(adapter: Any, directory: Path, *, head: dict[str, Any], state: dict[str, Any]) -> None:
    """Save an encoder adapter: its encoder as its mode needs, its head as safetensors, and a manifest with
    ``state`` (the adapter's vocabulary) plus the encoder mode and fit statistics."""
    from pioneer.training.persistence import save_tensors, write_manifest

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_encoder(adapter._model.encoder, adapter._tokenizer, directory, mode=adapter._encoder_mode)
    save_tensors(directory / HEAD_FILE, head)
    write_manifest(
        directory,
        task=adapter.task,
        adapter=type(adapter).__name__,
        config=adapter.config.to_dict(),
        state={**state, "encoder": adapter._encoder_mode, "fit_stats": adapter.fit_stats_},
    )


def load_encoder_model(adapter_cls: Any, config_cls: Any, directory: Path) -> tuple[Any, dict[str, Any], Any, dict[str, Any]]:
    """The first half of loading what :func:`save_encoder_model` wrote: (adapter with its config, tokenizer,
    device and fit statistics set; the manifest's state; the encoder; the head tensors). The caller builds
    its model around the encoder and loads the head into it."""
    from pioneer.training.persistence import load_tensors, read_manifest
    from pioneer.training.runtime import library_progress, pick_device

    directory = Path(directory)
    manifest = read_manifest(directory)
    adapter = adapter_cls(config_cls.from_dict(manifest["config"]))
    state = manifest["state"]
    adapter.fit_stats_ = {k: float(v) for k, v in state.get("fit_stats", {}).items()}
    adapter._encoder_mode = state["encoder"]
    with library_progress(adapter.config):
        adapter._tokenizer, encoder = load_saved_encoder(directory, adapter.config, mode=adapter._encoder_mode)
    adapter._device = pick_device(adapter.config.device)
    return adapter, state, encoder, load_tensors(directory / HEAD_FILE)


def require_safetensors(folder: Path) -> Path:
    """``folder`` if it holds a peft adapter as safetensors; refuse anything else (e.g. a pickled .bin)."""
    if not (folder / "adapter_model.safetensors").exists():
        raise ConfigError(f"{folder} holds no adapter_model.safetensors; Pioneer loads LoRA adapters only as safetensors.")
    return folder


def merge_for_inference(encoder: Any) -> Any:
    """Fold LoRA into the weights in place for full-speed inference. The adapter stays attached (peft's
    ``merge_adapter``), so ``save_pretrained`` still writes just the adapter."""
    from peft import PeftModel

    if isinstance(encoder, PeftModel):
        encoder.merge_adapter()
    return encoder

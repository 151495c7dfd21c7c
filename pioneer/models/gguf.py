"""Convert a GGUF causal LM once into a plain safetensors folder that Trainer, trl and peft accept.

Why: transformers de-quantizes GGUF weights to float on load, but still marks the model as GGUF-quantized, and
``Trainer`` then refuses to train it. Loading once, dropping the quantization marks and ``save_pretrained``-ing
gives an ordinary checkpoint; training and serving both load that, so they see the same weights.

Two fixes on the way: the GGUF tokenizer conversion in transformers 5 sets ``eos_token`` to the BOS token
(``<|im_start|>`` for SmolLM2) although the file's metadata says ``<|im_end|>``; the metadata's eos/pad ids are
restored, so generation stops and padding is right. And BPE clean-up of spaces is switched off, as the tokenizer
warns it corrupts BPE output.

The result lives under ``$PIONEER_HOME/cache/models/<stem>-<sha256[:12]>``; a file lock makes concurrent first
uses convert once, and the folder appears atomically (written elsewhere, then renamed).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import tempfile
from pathlib import Path

from pioneer.settings import Paths

log = logging.getLogger(__name__)

_DONE_MARK = "pioneer-converted.txt"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metadata_token_ids(gguf_file: Path) -> dict[str, int]:
    """``eos``/``pad``/``bos`` token ids as the GGUF metadata states them."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_file))
    ids: dict[str, int] = {}
    for key in ("eos", "padding", "bos"):
        field = reader.fields.get(f"tokenizer.ggml.{key}_token_id")
        if field is not None and field.data:
            ids[key] = int(field.parts[field.data[0]][0])
    return ids


def convert_gguf(gguf_file: Path, target: Path) -> Path:
    """Load ``gguf_file`` (de-quantized to float32), fix its tokenizer, and save both to ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, trust_remote_code=False)
    ids = _metadata_token_ids(gguf_file)
    if "eos" in ids:
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(ids["eos"])
    if "padding" in ids:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(ids["padding"])
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.clean_up_tokenization_spaces = False
    # Drop every mark of GGUF quantization: the weights are plain float tensors by now.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target)  # safetensors is the default and only format written
    tokenizer.save_pretrained(target)
    return target


def converted_gguf(gguf_file: Path, *, cache_dir: Path | None = None) -> Path:
    """The cached safetensors conversion of ``gguf_file``, converting it on first use."""
    gguf_file = Path(gguf_file).resolve()
    root = Path(cache_dir) if cache_dir is not None else Paths.from_env().cache / "models"
    root.mkdir(parents=True, exist_ok=True)
    # Size + mtime pick the cached folder quickly; the content hash (computed once, on conversion) names it.
    stat = gguf_file.stat()
    index = root / f"{gguf_file.stem}.{stat.st_size}-{int(stat.st_mtime)}.path"
    if index.exists():
        target = root / index.read_text().strip()
        if (target / _DONE_MARK).exists():
            return target
    with (root / f"{gguf_file.stem}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            name = f"{gguf_file.stem}-{_sha256(gguf_file)[:12]}"
            target = root / name
            if not (target / _DONE_MARK).exists():
                log.info("converting GGUF to safetensors", extra={"gguf": str(gguf_file), "target": str(target)})
                scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
                try:
                    convert_gguf(gguf_file, scratch)
                    (scratch / _DONE_MARK).write_text(f"converted from {gguf_file}\n")
                    if target.exists():
                        shutil.rmtree(target)
                    scratch.rename(target)
                finally:
                    if scratch.exists():
                        shutil.rmtree(scratch, ignore_errors=True)
            index.write_text(name + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target

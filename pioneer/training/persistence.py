"""The on-disk shape of a saved adapter: one JSON manifest plus safetensors, nothing executable.

``pioneer_adapter.json`` names the task (which picks the adapter class from a fixed table: a saved file never
names code to import), the config, and the learned state that is not a tensor (label names, tag names). Tensors
go to ``*.safetensors`` files, encoders and LoRA adapters to sub-folders written by ``save_pretrained`` (also
safetensors). Loading never unpickles and never runs remote code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson

import pioneer
from pioneer.errors import ConfigError

MANIFEST = "pioneer_adapter.json"
FORMAT_VERSION = 1


def write_manifest(directory: Path, *, task: str, adapter: str, config: dict[str, Any], state: dict[str, Any]) -> None:
    """Write the manifest last and atomically: a folder with a manifest is a complete save."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": FORMAT_VERSION,
        "task": task,
        "adapter": adapter,
        "pioneer_version": pioneer.__version__,
        "config": config,
        "state": state,
    }
    scratch = directory / f".{MANIFEST}.tmp"
    scratch.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(scratch, directory / MANIFEST)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise ConfigError(f"{directory} has no {MANIFEST}; it is not a saved Pioneer adapter.")
    try:
        manifest = orjson.loads(path.read_bytes())  # past 1,024 levels an error, not a RecursionError
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); the saved adapter is damaged.") from exc
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path} holds a JSON {type(manifest).__name__}, not an object; the saved adapter is "
                          "damaged.")
    if manifest.get("format") != FORMAT_VERSION:
        raise ConfigError(
            f"{path} is format {manifest.get('format')!r}; this Pioneer reads format {FORMAT_VERSION}. Upgrade Pioneer."
        )
    missing = [key for key in ("config", "state") if not isinstance(manifest.get(key), dict)]
    if missing:
        raise ConfigError(f"{path} has no {' or '.join(missing)} object; the saved adapter is damaged.")
    return manifest


def save_tensors(path: Path, tensors: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))

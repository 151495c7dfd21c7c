"""Real tiny models for the serving tests, trained once per test process and registered per test.

Two classifiers (the offline MiniLM encoder with a logistic-regression head, seconds to fit) with different
heads, so they are two versions with two content hashes; and a generation model (SmolLM2 with a LoRA adapter
after one optimisation step) for the OpenAI-compatible endpoint.
"""

from __future__ import annotations

import functools
import os

from pioneer.events import GateReport
from pioneer.registry import FileRegistry, VersionInfo
from pioneer.training import (
    ClassificationAdapter,
    ClassificationConfig,
    GenerationAdapter,
    GenerationConfig,
)
from tests.unit.training.synthetic import arithmetic_data, intent_data

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LABELS = ("alarm", "music", "transfer", "weather")
GEN_SYSTEM = "Answer arithmetic questions in one sentence."


@functools.cache
def classifiers() -> tuple[ClassificationAdapter, ClassificationAdapter]:
    """Two fitted classifiers of the same task with different weights."""
    first = ClassificationAdapter(ClassificationConfig(strategy="head", embedding_cache=False, head_c=10.0))
    second = ClassificationAdapter(ClassificationConfig(strategy="head", embedding_cache=False, head_c=1.0))
    return (
        first.fit(intent_data(6, seed=0, split="train")),
        second.fit(intent_data(8, seed=1, split="train")),
    )


@functools.cache
def generator() -> GenerationAdapter:
    """SmolLM2-135M-Instruct with a LoRA adapter after one step (what is tested is serving, not learning)."""
    config = GenerationConfig(
        epochs=1.0, batch_size=4, learning_rate=1e-3, max_length=48, max_new_tokens=6, lora_r=4,
        system_prompt=GEN_SYSTEM, eval_batch_size=8,
    )
    return GenerationAdapter(config).fit(arithmetic_data(4, seed=0, split="train"))


def _blessed(baseline: str | None) -> VersionInfo:
    return VersionInfo(
        parent=baseline, mode="train", metrics={"accuracy": 1.0},
        gate_report=GateReport(passed=True, baseline_version=baseline, checks=[], notes=["test fixture"]),
    )


def register_classifiers(registry: FileRegistry, model: str = "intents") -> tuple[str, str]:
    """Register both classifiers under ``model``; production points at the first. Returns (v1, v2)."""
    first, second = classifiers()
    v1 = registry.register_version(model, first, _blessed(None)).version
    v2 = registry.register_version(model, second, _blessed(v1)).version
    assert v1 != v2
    registry.move_alias(model, "production", v1, kind="release", reason="first model")
    return v1, v2


def register_generator(registry: FileRegistry, model: str = "smol") -> str:
    version = registry.register_version(model, generator(), _blessed(None)).version
    registry.move_alias(model, "production", version, kind="release", reason="first model")
    return version

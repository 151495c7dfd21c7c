"""The parts around the adapters: factory, config I/O, metrics, model resolution, the embedding cache."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from pioneer.errors import ConfigError
from pioneer.metrics import accuracy, exact_match, normalize_answer, per_label_accuracy
from pioneer.models import (
    default_encoder_path,
    from_pretrained,
    gguf_file_of,
    resolve_encoder,
    smollm2_gguf_path,
)
from pioneer.training import (
    ClassificationAdapter,
    ClassificationConfig,
    EntityExtractionConfig,
    GenerationConfig,
    adapter_for,
    config_for,
    load_adapter,
)
from pioneer.training.embeddings import EmbeddingCache
from pioneer.training.persistence import MANIFEST


def test_factory_builds_each_task_from_a_dict_or_a_config() -> None:
    assert type(adapter_for("classification", {"strategy": "finetune", "epochs": 1}).config) is ClassificationConfig
    assert type(adapter_for("entity_extraction").config) is EntityExtractionConfig
    assert adapter_for("generation", GenerationConfig(max_new_tokens=4)).config.max_new_tokens == 4
    with pytest.raises(ConfigError, match="strategyy"):
        config_for("classification", {"strategyy": "head"})
    with pytest.raises(ConfigError, match="GenerationConfig"):
        config_for("generation", ClassificationConfig())
    with pytest.raises(ConfigError, match="task"):
        adapter_for("translation")


def test_config_json_round_trip_and_hash() -> None:
    config = GenerationConfig(lora_target_modules=("q_proj",), system_prompt="Be terse.")
    values = json.loads(json.dumps(config.to_dict()))
    assert GenerationConfig.from_dict(values) == config
    assert config.config_hash() == GenerationConfig.from_dict(values).config_hash()
    assert config.config_hash() != dataclasses.replace(config, seed=1).config_hash()
    # dataclasses.replace (what the retrain search uses) keeps the type and re-validates in the adapter
    with pytest.raises(ValueError, match="epochs"):
        adapter_for("classification", dataclasses.replace(ClassificationConfig(), epochs=0.0))


def test_load_adapter_refuses_folders_that_are_not_saves(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=MANIFEST):
        load_adapter(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": 1, "task": "os.system", "config": {}, "state": {}}))
    with pytest.raises(ConfigError, match="task"):
        load_adapter(tmp_path)


def test_metrics() -> None:
    assert accuracy([], []) == 0.0
    assert per_label_accuracy(["a", "b", "b"], ["a", "a", "b"]) == {"a": 0.5, "b": 1.0}
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match(["Paris.", "4"], ["paris", "5"]) == 0.5
    assert exact_match(["It is 1,024 in total"], ["1024"], "numeric") == 1.0
    assert exact_match(["12"], ["12.0"], "exact") == 0.0
    with pytest.raises(ValueError, match="equal lengths"):
        accuracy(["a"], [])


def test_offline_defaults_resolve_without_importing_their_packages() -> None:
    assert (default_encoder_path() / "model.safetensors").exists()
    assert resolve_encoder(None) == str(default_encoder_path())
    gguf = smollm2_gguf_path()
    assert gguf.suffix == ".gguf" and gguf_file_of(str(gguf)) == gguf and gguf_file_of(str(gguf.parent)) == gguf
    assert gguf_file_of(str(default_encoder_path())) is None


def test_unknown_model_ids_fail_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="base_model"):
        from_pretrained(AutoTokenizer, "pioneer-test/no-such-model")


def test_pickled_weights_are_refused(tmp_path: Path) -> None:
    """A folder with only a pickled ``pytorch_model.bin`` must not load (safetensors only)."""
    import shutil

    from transformers import AutoModel

    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(default_encoder_path() / "config.json", folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ConfigError):
        from_pretrained(AutoModel, str(folder))


def test_embedding_cache_persists_and_only_computes_missing(tmp_path: Path) -> None:
    computed: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        computed.append(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = EmbeddingCache(tmp_path / "c")
    first = cache.encode(["a", "bb", "a"], compute)
    assert computed == [["a", "bb"]] and first.tolist() == [[1, 1], [2, 1], [1, 1]]
    again = EmbeddingCache(tmp_path / "c").encode(["bb", "ccc"], compute)
    assert computed[-1] == ["ccc"] and again.tolist() == [[2, 1], [3, 1]]
    assert len(list((tmp_path / "c").glob("shard-*.safetensors"))) == 2


def test_progress_reaches_the_end_for_the_head_strategy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.unit.training.synthetic import intent_data

    monkeypatch.setenv("PIONEER_HOME", str(tmp_path))
    seen: list[tuple[int, int]] = []
    ClassificationAdapter(ClassificationConfig(eval_batch_size=8)).fit(
        intent_data(3, seed=0, split="train"), progress=lambda step, total, logs: seen.append((step, total))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]  # 12 texts in batches of 8, then the regression fit

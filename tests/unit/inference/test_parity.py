"""The ONNX Runtime fast path answers as the torch model does, and serving and the monitor use it by default.

Real tiny models: a logistic-regression head and a one-epoch fine-tune of the offline MiniLM encoder, each
checked on a gate set of held-out intents plus awkward inputs (empty, unicode, far past the token limit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pioneer.embedding import Embedder
from pioneer.registry import FileRegistry, VersionInfo
from pioneer.serving import ServedModel
from pioneer.training import ClassificationAdapter, ClassificationConfig, load_adapter
from streams.serving.runtime import ServeConfig, ServingRuntime
from tests.unit.training.synthetic import intent_data

pytestmark = pytest.mark.slow

TRAIN = intent_data(6, seed=0, split="train")
GATE = [e.text for e in intent_data(30, seed=3, split="gate")] + [
    "", "   ", "ünïcödé ✓ 日本語 🎵", "play " * 400, "WAKE ME UP AT 6 AM!!!", "transfer\n\t50 dollars",
]


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.getbasetemp() / "parity-home"  # one export cache for the module
    monkeypatch.setenv("PIONEER_HOME", str(path))
    return path


@pytest.fixture(scope="module")
def head() -> ClassificationAdapter:
    return ClassificationAdapter(ClassificationConfig(strategy="head", embedding_cache=False, max_length=24)).fit(TRAIN)


def assert_same_answers(adapter: ClassificationAdapter) -> None:
    adapter.accelerate("torch")
    assert adapter.engine_ == "torch"
    expected = adapter.predict_proba(GATE)
    adapter.accelerate("onnx")
    assert adapter.engine_ == "onnx"
    fast = adapter.predict_proba(GATE)
    same = float(np.mean(expected.argmax(1) == fast.argmax(1)))
    assert same >= 0.995, f"{same:.3%} of the gate set answered the same"
    np.testing.assert_allclose(fast, expected, atol=1e-4)
    assert [o.label for o in adapter.predict(GATE)] == [adapter.labels_[i] for i in expected.argmax(1)]


def test_the_fast_paths_tokens_equal_the_tokenizers_own() -> None:
    from transformers import AutoTokenizer

    from pioneer.embedding import default_model_path
    from pioneer.inference.onnx_encoder import _batch_encoder

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    encode = _batch_encoder(tokenizer, max_length=24)
    for batch in ([*GATE[-6:], "a"], ["\x00 nul \u200b zero-width", "x" * 5000, "  "], [GATE[0]]):
        expected = tokenizer(batch, padding=True, truncation=True, max_length=24, return_tensors="np")
        ours = encode(batch)
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            np.testing.assert_array_equal(ours[name], expected[name])


def test_head_classifier_answers_the_same_on_onnx(head: ClassificationAdapter) -> None:
    assert_same_answers(head)


def test_finetuned_classifier_answers_the_same_on_onnx(tmp_path: Path) -> None:
    config = ClassificationConfig(strategy="finetune", epochs=1.0, batch_size=8, max_length=16, embedding_cache=False)
    adapter = ClassificationAdapter(config).fit(TRAIN)
    assert_same_answers(adapter)
    adapter.save(tmp_path / "model")  # the reloaded version exports the same weights: the same file
    reloaded = load_adapter(tmp_path / "model").accelerate("onnx")
    assert reloaded._fast.path == adapter._fast.path
    np.testing.assert_allclose(reloaded.predict_proba(GATE), adapter.predict_proba(GATE), atol=1e-5)


def test_a_fit_goes_back_to_torch_and_a_blend_keeps_the_fast_path(head: ClassificationAdapter) -> None:
    fast = ClassificationAdapter(head.config).fit(TRAIN).accelerate()
    blended = fast.blend(head, 0.5)
    assert blended.engine_ == "onnx"
    assert fast.fit(TRAIN[:12]).engine_ == "torch"
    with pytest.raises(ValueError, match="engine"):
        fast.accelerate("tensorrt")


def test_serving_loads_versions_on_the_fast_path_by_default(head: ClassificationAdapter, tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry")
    version = registry.register_version("intents", head, VersionInfo()).version
    served = ServingRuntime(ServeConfig(model="intents", log_inferences=False), registry=registry, kafka=None)
    first = served._load(version)
    assert first.engine_ == "onnx"
    refit = ClassificationAdapter(head.config).fit(TRAIN[:16])
    second = registry.register_version("intents", refit, VersionInfo(parent=version)).version
    served.slot.swap(ServedModel(name="intents", version=version, task="classification", adapter=first), kind="pin")
    swapped = served._load(second)  # another head on the same frozen encoder: no new export or session
    assert swapped._fast is first._fast
    np.testing.assert_allclose(swapped.predict_proba(GATE), refit.accelerate("torch").predict_proba(GATE), atol=1e-4)
    as_trained = ServingRuntime(ServeConfig(model="intents", engine="torch"), registry=registry, kafka=None)
    assert as_trained._load(version).engine_ == "torch"
    with pytest.raises(ValueError, match="engine"):
        ServeConfig(model="intents", engine="tensorrt")


def test_the_monitor_embedder_uses_the_fast_path_and_matches_sentence_transformers() -> None:
    from streams.monitor.config import MonitorConfig

    fast, reference = Embedder(MonitorConfig().embed_model), Embedder(engine="torch")
    vectors, expected = fast.encode(GATE), reference.encode(GATE)
    assert fast.engine_ == "onnx" and reference.engine_ == "torch"
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert vectors.shape == (len(GATE), fast.dimension_)


def test_the_gate_states_the_serving_engines_parity_and_refuses_a_model_that_answers_otherwise() -> None:
    from pioneer.gates.parity import serving_parity
    from pioneer.training import Example

    adapter = ClassificationAdapter(ClassificationConfig(progress_bar=False)).fit(TRAIN)
    gate = [Example(id=f"g{i}", text=t, label=TRAIN[0].label) for i, t in enumerate(GATE)]
    check = serving_parity(adapter, gate)
    assert check is not None and check.passed and check.observed >= 0.995
    assert adapter.engine_ == "torch"  # left answering as trained
    strict = serving_parity(adapter, gate, min_agreement=1.01)  # an engine that must beat identity cannot pass
    assert strict is not None and not strict.passed and "gate-set answers are the same on onnx" in strict.detail
    assert serving_parity(adapter, gate, engine="torch") is None

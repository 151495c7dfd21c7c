"""ClassificationAdapter: real tiny fits of each strategy, held-out scoring, save/load round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pioneer.errors import NotFittedError
from pioneer.training import (
    ClassificationAdapter,
    ClassificationConfig,
    adapter_for,
    load_adapter,
)
from pioneer.training.base import Example
from pioneer.training.embeddings import EmbeddingCache
from tests.unit.training.synthetic import assert_no_pickles, intent_data, saved_files

pytestmark = pytest.mark.slow

TRAIN = intent_data(6, seed=0, split="train")
TEST = intent_data(6, seed=1, split="test")


@pytest.fixture(scope="module")
def head_adapter(tmp_path_factory: pytest.TempPathFactory) -> ClassificationAdapter:
    # A private embedding cache: this test must see the encoder run, not a previous run's vectors.
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("PIONEER_HOME", str(home))
    try:
        yield ClassificationAdapter(ClassificationConfig(strategy="head", max_length=24)).fit(TRAIN, validation=TEST)
    finally:
        mp.undo()


def test_head_strategy_learns_held_out_intents(head_adapter: ClassificationAdapter) -> None:
    evaluation = head_adapter.evaluate(TEST)
    assert evaluation.metric_name == "accuracy"
    assert evaluation.metric >= 0.9, evaluation.per_slice
    assert evaluation.ids == [e.id for e in TEST]
    assert evaluation.metric == pytest.approx(sum(evaluation.correct) / len(TEST))
    assert [p.label == e.label for p, e in zip(evaluation.predictions, TEST, strict=True)] == evaluation.correct
    assert set(evaluation.per_slice) == {"alarm", "music", "transfer", "weather"}
    assert head_adapter.fit_stats_["validation_metric"] == evaluation.metric
    assert head_adapter.labels_ == ["alarm", "music", "transfer", "weather"]


def test_predictions_carry_top_k_scores(head_adapter: ClassificationAdapter) -> None:
    (output,) = head_adapter.predict(["please play jazz music"])
    assert output.label == "music"
    assert output.scores is not None and len(output.scores) == 4
    assert max(output.scores, key=output.scores.get) == "music"
    assert sum(output.scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert head_adapter.predict([]) == []


def test_head_save_holds_only_the_head_and_reloads_identically(head_adapter: ClassificationAdapter, tmp_path: Path) -> None:
    head_adapter.save(tmp_path / "m")
    files = saved_files(tmp_path / "m")
    assert files == {"pioneer_adapter.json", "head.safetensors"}, files
    reloaded = load_adapter(tmp_path / "m")
    assert isinstance(reloaded, ClassificationAdapter)
    texts = [e.text for e in TEST]
    np.testing.assert_allclose(reloaded.predict_proba(texts), head_adapter.predict_proba(texts), atol=1e-5)
    assert reloaded.config == head_adapter.config


def test_head_refit_is_deterministic_and_uses_the_cache(head_adapter: ClassificationAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = EmbeddingCache.encode

    def spy(self: EmbeddingCache, texts, compute):  # type: ignore[no-untyped-def]
        return original(self, texts, lambda missing: calls.append(len(missing)) or compute(missing))

    monkeypatch.setattr(EmbeddingCache, "encode", spy)
    again = ClassificationAdapter(ClassificationConfig(strategy="head", max_length=24, embedding_cache=False)).fit(TRAIN)
    assert calls == [len({e.text for e in TRAIN})]  # no disk cache: everything encoded once
    assert [p.label for p in again.predict([e.text for e in TEST])] == [p.label for p in head_adapter.predict([e.text for e in TEST])]


def test_a_head_warm_starts_from_another_head_on_the_same_encoder(head_adapter: ClassificationAdapter) -> None:
    texts = [e.text for e in TEST]
    one_step = ClassificationConfig(strategy="head", max_length=24, head_max_iter=1)
    # One L-BFGS step from the fitted head stays where it is; one step from zero is nowhere near it.
    warm = ClassificationAdapter(one_step).fit(TRAIN, start_from=head_adapter)
    cold = ClassificationAdapter(one_step).fit(TRAIN)
    gap = lambda a: np.abs(a.predict_proba(texts) - head_adapter.predict_proba(texts)).max()  # noqa: E731
    assert gap(warm) < 0.05 < gap(cold)
    # A different label set cannot start there: the fit starts at zero instead (and says so in the log).
    fewer = [e for e in TRAIN if e.label != "alarm"]
    assert ClassificationAdapter(one_step).fit(fewer, start_from=head_adapter).labels_ == ["music", "transfer", "weather"]


def test_blending_two_heads_interpolates_their_logits(head_adapter: ClassificationAdapter) -> None:
    texts = [e.text for e in TEST]
    other = ClassificationAdapter(head_adapter.config).fit(TRAIN[::2], start_from=head_adapter)
    before = head_adapter.predict_proba(texts), other.predict_proba(texts)
    half = other.blend(head_adapter, 0.5)
    mine, theirs = other._model.classifier.weight.detach(), head_adapter._model.classifier.weight.detach()
    np.testing.assert_allclose(half._model.classifier.weight.detach().numpy(), (0.5 * (mine + theirs)).numpy(), atol=1e-6)
    np.testing.assert_allclose(other.blend(head_adapter, 1.0).predict_proba(texts), before[1], atol=1e-6)
    np.testing.assert_allclose(other.blend(head_adapter, 0.0).predict_proba(texts), before[0], atol=1e-6)
    np.testing.assert_allclose(head_adapter.predict_proba(texts), before[0])  # neither input changed
    np.testing.assert_allclose(other.predict_proba(texts), before[1])
    with pytest.raises(ValueError, match="label sets"):
        ClassificationAdapter(head_adapter.config).fit([e for e in TRAIN if e.label != "alarm"]).blend(head_adapter, 0.5)
    with pytest.raises(ValueError, match="encoders"):
        ClassificationAdapter(ClassificationConfig(strategy="head", max_length=16)).fit(TRAIN).blend(head_adapter, 0.5)
    with pytest.raises(ValueError, match="weight"):
        other.blend(head_adapter, 1.5)


def test_a_head_fitted_from_the_base_blends_exactly_in_logit_space(head_adapter: ClassificationAdapter) -> None:
    # Why the retrainer also searches the line to a from-base head (``blends_from_base``): the blend's log-odds
    # are the same mix of the two heads' log-odds, whatever each head started from.
    assert ClassificationAdapter.blends_from_base
    texts = [e.text for e in TEST]
    cold = ClassificationAdapter(head_adapter.config).fit(TRAIN[1::2])

    def log_odds(adapter: ClassificationAdapter) -> np.ndarray:
        logp = np.log(adapter.predict_proba(texts))
        return logp - logp[:, :1]

    mixed = 0.3 * log_odds(cold) + 0.7 * log_odds(head_adapter)
    np.testing.assert_allclose(log_odds(cold.blend(head_adapter, 0.3)), mixed, atol=1e-4)


def test_char_ngram_head_sees_spelling_saves_warm_starts_and_blends(tmp_path: Path) -> None:
    config = ClassificationConfig(strategy="head", max_length=24, char_ngrams=512)
    # Made-up product names in the same sentences: only their spelling tells the labels apart.
    frames = ["please reorder the {} today", "is my {} in stock", "cancel the {} i bought", "how much is a {}",
              "ship two {} to my office", "my {} arrived broken"]
    names = {"zorbix": "tools", "quandle": "toys", "flimpet": "food"}  # three: two-label heads do not warm-start
    train = [Example(id=f"t{i}-{n}", text=f.format(n), label=label)
             for i, f in enumerate(frames[:4]) for n, label in names.items()]
    test = [Example(id=f"h{i}-{n}", text=f.format(n + "s"), label=label)
            for i, f in enumerate(frames[4:]) for n, label in names.items()]
    adapter = ClassificationAdapter(config).fit(train)
    assert adapter._model.classifier.weight.shape == (3, 384 + 512)
    assert adapter.evaluate(test).metric == 1.0, [p.label for p in adapter.predict([e.text for e in test])]
    spelling_only = adapter.blend(adapter, 1.0)  # a copy; then the embedding's weights are zeroed
    spelling_only._model.classifier.weight.data[:, :384] = 0.0
    assert spelling_only.evaluate(test).metric == 1.0  # the n-grams alone tell the names apart
    adapter.save(tmp_path / "m")
    assert saved_files(tmp_path / "m") == {"pioneer_adapter.json", "head.safetensors"}
    texts = [e.text for e in test]
    reloaded = load_adapter(tmp_path / "m")
    np.testing.assert_allclose(reloaded.predict_proba(texts), adapter.predict_proba(texts), atol=1e-5)
    # Hashed n-grams need no vocabulary: every version shares the space, so heads warm-start and blend.
    one_step = ClassificationConfig(strategy="head", max_length=24, char_ngrams=512, head_max_iter=1)
    warm = ClassificationAdapter(one_step).fit(train, start_from=adapter)
    assert np.abs(warm.predict_proba(texts) - adapter.predict_proba(texts)).max() < 0.05
    np.testing.assert_allclose(warm.blend(adapter, 0.0).predict_proba(texts), adapter.predict_proba(texts), atol=1e-6)
    with pytest.raises(ValueError, match="encoders or their inputs"):
        adapter.blend(ClassificationAdapter(ClassificationConfig(strategy="head", max_length=24)).fit(train), 0.5)


def test_finetune_trains_all_weights_and_round_trips(tmp_path: Path) -> None:
    steps: list[tuple[int, int]] = []
    config = ClassificationConfig(strategy="finetune", epochs=1.0, batch_size=8, max_length=16, embedding_cache=False)
    adapter = ClassificationAdapter(config).fit(TRAIN, progress=lambda s, t, logs: steps.append((s, t)))
    assert steps and steps[-1][0] == steps[-1][1] == 3  # 24 examples / batch 8
    assert np.isfinite(adapter.fit_stats_["train_loss"])
    assert adapter.evaluate(TEST).metric >= 0.75
    adapter.save(tmp_path / "m")
    files = saved_files(tmp_path / "m")
    assert "encoder/model.safetensors" in files and "encoder/tokenizer.json" in files
    assert_no_pickles(tmp_path / "m")
    reloaded = ClassificationAdapter.load(tmp_path / "m")
    texts = [e.text for e in TEST]
    np.testing.assert_allclose(reloaded.predict_proba(texts), adapter.predict_proba(texts), atol=1e-4)


def test_lora_saves_only_the_adapter(tmp_path: Path) -> None:
    config = ClassificationConfig(
        strategy="finetune", use_lora=True, learning_rate=1e-3, epochs=1.0, batch_size=8, max_length=16, lora_r=4
    )
    adapter = adapter_for("classification", config).fit(TRAIN)
    adapter.save(tmp_path / "m")
    files = saved_files(tmp_path / "m")
    assert "lora/adapter_model.safetensors" in files and not any(f.startswith("encoder/") for f in files)
    assert (tmp_path / "m" / "lora" / "adapter_model.safetensors").stat().st_size < 2_000_000
    reloaded = load_adapter(tmp_path / "m")
    texts = [e.text for e in TEST]
    np.testing.assert_allclose(reloaded.predict_proba(texts), adapter.predict_proba(texts), atol=1e-4)
    reloaded.save(tmp_path / "again")  # a reloaded LoRA model still saves as an adapter, not a full copy
    assert saved_files(tmp_path / "again") == files
    np.testing.assert_allclose(load_adapter(tmp_path / "again").predict_proba(texts), adapter.predict_proba(texts), atol=1e-4)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="strategy"):
        ClassificationAdapter(ClassificationConfig(strategy="magic"))
    with pytest.raises(ValueError, match="use_lora"):
        ClassificationAdapter(ClassificationConfig(strategy="head", use_lora=True))
    with pytest.raises(ValueError, match="char_ngrams"):
        ClassificationAdapter(ClassificationConfig(strategy="finetune", char_ngrams=1024))
    with pytest.raises(ValueError, match="char_ngrams"):
        ClassificationAdapter(ClassificationConfig(char_ngrams=-1))
    with pytest.raises(ValueError, match="learning_rate"):
        ClassificationAdapter(ClassificationConfig(learning_rate=0.0))
    with pytest.raises(ValueError, match="label"):
        ClassificationAdapter().fit([TRAIN[0].__class__(text="x", id="1")])
    with pytest.raises(NotFittedError):
        ClassificationAdapter().predict(["hello"])

"""EntityExtractionAdapter: a real tiny fit, span-level scoring, decoding rules, save/load."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pioneer.events import Span
from pioneer.metrics import span_scores
from pioneer.training import (
    EntityExtractionAdapter,
    EntityExtractionConfig,
    load_adapter,
)
from pioneer.training.entity_extraction import _allowed_transitions, _viterbi
from tests.unit.training.synthetic import assert_no_pickles, entity_data, saved_files

TRAIN = entity_data(48, seed=0, split="train")
TEST = entity_data(24, seed=1, split="test")


@pytest.fixture(scope="module")
def tagger() -> EntityExtractionAdapter:
    # 12 steps learn this synthetic set; the 500-sentence step rule (tested alone below) would take 10× as long.
    config = EntityExtractionConfig(epochs=2.0, batch_size=8, max_length=32, learning_rate=3e-4, calibrated_examples=None)
    return EntityExtractionAdapter(config).fit(TRAIN)


@pytest.mark.slow
def test_a_set_smaller_than_the_calibration_trains_the_calibrated_steps() -> None:
    config = EntityExtractionConfig(epochs=1.0, batch_size=8, max_length=32, calibrated_examples=32)
    assert config.training_epochs(8) == 4.0 and config.training_epochs(64) == 1.0  # more data: never fewer epochs
    assert dataclasses.replace(config, calibrated_examples=0).training_epochs(8) == 1.0
    scaled = EntityExtractionAdapter(config).fit(TRAIN[:8])
    plain = EntityExtractionAdapter(dataclasses.replace(config, calibrated_examples=None)).fit(TRAIN[:8])
    assert scaled.fit_stats_["steps"] == 4 and plain.fit_stats_["steps"] == 1  # 32 examples at batch 8: 4 steps
    with pytest.raises(ValueError, match="calibrated_examples"):
        EntityExtractionAdapter(EntityExtractionConfig(calibrated_examples=-1))


@pytest.mark.slow
def test_learns_entities_on_held_out_sentences(tagger: EntityExtractionAdapter) -> None:
    evaluation = tagger.evaluate(TEST)
    assert evaluation.metric_name == "entity_f1"
    assert evaluation.metric >= 0.8, (evaluation.extra, evaluation.per_slice)
    assert set(evaluation.per_slice) <= {"PER", "LOC"}
    predicted = [p.spans or [] for p in evaluation.predictions]
    assert evaluation.metric == pytest.approx(span_scores(predicted, [e.spans for e in TEST]).f1)
    for example, ok, spans in zip(TEST, evaluation.correct, predicted, strict=True):
        assert ok == ({s.key() for s in spans} == {s.key() for s in example.spans or ()})
        for span in spans:
            assert example.text[span.start : span.end] == span.text
    assert tagger.entity_types_ == ["LOC", "PER"]


@pytest.mark.slow
def test_save_load_round_trip(tagger: EntityExtractionAdapter, tmp_path: Path) -> None:
    tagger.save(tmp_path / "m")
    files = saved_files(tmp_path / "m")
    assert {"pioneer_adapter.json", "head.safetensors", "encoder/model.safetensors"} <= files
    assert_no_pickles(tmp_path / "m")
    reloaded = load_adapter(tmp_path / "m")
    texts = [e.text for e in TEST]
    assert reloaded.predict(texts) == tagger.predict(texts)


@pytest.mark.slow
def test_threshold_only_removes_entities(tagger: EntityExtractionAdapter) -> None:
    strict = copy.copy(tagger)
    strict.config = dataclasses.replace(tagger.config, entity_threshold=0.999999)
    texts = [e.text for e in TEST]
    loose, tight = tagger.predict_spans(texts), strict.predict_spans(texts)
    for a, b in zip(loose, tight, strict=True):
        assert {s.key() for s in b} <= {s.key() for s in a}


@pytest.mark.slow
def test_warm_start_continues_from_the_given_tagger_and_leaves_it_untouched(tagger: EntityExtractionAdapter) -> None:
    texts = [e.text for e in TEST]
    before = tagger.predict(texts)
    weights = {k: v.clone() for k, v in tagger._model.state_dict().items()}
    # No training steps at all (a 0-epoch fit is refused, so one tiny step at a learning rate of ~0): a warm
    # start reproduces the tagger, a cold start from the base encoder does not.
    still = dataclasses.replace(tagger.config, epochs=1.0, learning_rate=1e-12, head_learning_rate=1e-12)
    warm = EntityExtractionAdapter(still).fit(TRAIN[:8], start_from=tagger)
    assert warm.predict(texts) == before and warm.tags_ == tagger.tags_
    cold = EntityExtractionAdapter(still).fit(TRAIN[:8])
    assert cold.predict(texts) != before
    # Real steps from the warm start move the copy, never the original.
    EntityExtractionAdapter(tagger.config).fit(TRAIN[:16], start_from=tagger)
    assert all(np.array_equal(v.cpu().numpy(), tagger._model.state_dict()[k].cpu().numpy()) for k, v in weights.items())
    assert tagger.predict(texts) == before


@pytest.mark.slow
def test_blend_interpolates_weights_and_leaves_both_taggers_untouched(tagger: EntityExtractionAdapter) -> None:
    texts = [e.text for e in TEST]
    other = EntityExtractionAdapter(tagger.config).fit(TRAIN[:16], start_from=tagger)
    mine, theirs = tagger._model.state_dict(), other._model.state_dict()
    saved = {k: v.clone() for k, v in theirs.items()}
    half = other.blend(tagger, 0.5)
    key = next(k for k, v in mine.items() if v.is_floating_point() and not np.array_equal(v.numpy(), theirs[k].numpy()))
    expected = 0.5 * mine[key] + 0.5 * theirs[key]
    assert np.allclose(half._model.state_dict()[key].numpy(), expected.numpy(), atol=1e-6)
    # The end points are the taggers themselves; neither input changes.
    assert other.blend(tagger, 1.0).predict(texts) == other.predict(texts)
    assert other.blend(tagger, 0.0).predict(texts) == tagger.predict(texts)
    assert all(np.array_equal(v.numpy(), theirs[k].numpy()) for k, v in saved.items())
    with pytest.raises(ValueError, match="weight"):
        other.blend(tagger, 1.5)


def test_warm_start_is_refused_where_it_cannot_work(tagger: EntityExtractionAdapter) -> None:
    from pioneer.training import ClassificationAdapter, GenerationAdapter

    with pytest.raises(ValueError, match="cannot warm-start"):
        ClassificationAdapter().fit([], start_from=tagger)
    with pytest.raises(ValueError, match="cannot warm-start"):
        GenerationAdapter().fit([], start_from=tagger)


@pytest.mark.slow
def test_lora_without_casing_trains_and_saves_adapter_only(tmp_path: Path) -> None:
    config = EntityExtractionConfig(  # about saving LoRA, not training length: 2 steps, not the calibrated 63
        epochs=1.0, batch_size=8, max_length=32, use_lora=True, learning_rate=1e-3, casing_features=False, lora_r=4,
        calibrated_examples=None,
    )
    adapter = EntityExtractionAdapter(config).fit(TRAIN[:16])
    adapter.save(tmp_path / "m")
    files = saved_files(tmp_path / "m")
    assert "lora/adapter_model.safetensors" in files and not any(f.startswith("encoder/") for f in files)
    reloaded = load_adapter(tmp_path / "m")
    assert reloaded.predict([e.text for e in TEST[:4]]) == adapter.predict([e.text for e in TEST[:4]])


def test_viterbi_never_starts_an_entity_with_inside() -> None:
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed = _allowed_transitions(tags)
    # Greedy would read O, I-PER, I-PER: an entity without a beginning.
    scores = np.log(np.array([[0.9, 0.01, 0.05, 0.02, 0.02], [0.1, 0.3, 0.55, 0.03, 0.02], [0.2, 0.05, 0.7, 0.03, 0.02]]))
    path = [tags[i] for i in _viterbi(scores, allowed)]
    assert path == ["O", "B-PER", "I-PER"]
    assert not allowed[len(tags), tags.index("I-LOC")] and not allowed[tags.index("B-PER"), tags.index("I-LOC")]


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="entity_threshold"):
        EntityExtractionAdapter(EntityExtractionConfig(entity_threshold=2.0))
    with pytest.raises(ValueError, match="spans"):
        EntityExtractionAdapter().fit([TRAIN[0].__class__(text="x", id="1")])


def test_span_metrics_match_seqeval_convention() -> None:
    gold = [[Span(start=0, end=4, label="PER"), Span(start=10, end=15, label="LOC")], []]
    pred = [[Span(start=0, end=4, label="PER"), Span(start=10, end=14, label="LOC")], [Span(start=0, end=2, label="ORG")]]
    scores = span_scores(pred, gold)
    assert (scores.tp, scores.fp, scores.fn) == (1, 2, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 2)
    assert scores.per_label["PER"] == 1.0 and scores.per_label["ORG"] == 0.0

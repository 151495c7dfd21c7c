"""Loaders on slices of the real files in shared/datasets and on small files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pioneer.data import (
    load_clinc150,
    load_conll,
    load_csv,
    load_dataset,
    load_hf_dataset,
    load_jsonl,
    load_span_json,
    spans_to_tags,
    subsample,
    tags_to_spans,
)
from pioneer.errors import ConfigError
from pioneer.events import Span
from pioneer.training.base import Example

DATASETS = Path(__file__).resolve().parents[4] / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not DATASETS.exists(), reason="shared/datasets is not next to the project")


def _keys(example: Example) -> list[tuple[int, int, str]]:
    return [s.key() for s in example.spans or ()]


# ---------------------------------------------------------------------------------------------------- real files


@needs_shared
def test_clinc150_splits_sizes_ids_and_oos() -> None:
    train = load_clinc150(DATASETS / "clinc150", "train")
    test = load_clinc150(DATASETS / "clinc150" / "data_full.json", "test", include_oos=True)
    assert len(train) == 15_000 and len({e.label for e in train}) == 150
    assert len(test) == 4_500 + 1_000
    assert train[0].id == "clinc150:train:0" and test[-1].id == "clinc150:oos_test:999"
    assert test[-1].label == "oos" and "oos" not in {e.label for e in train}
    assert len({e.id for e in test}) == len(test)
    with pytest.raises(ValueError, match="split"):
        load_clinc150(DATASETS / "clinc150", "dev")


@needs_shared
def test_conll_text_and_spans_line_up() -> None:
    sentences = load_conll(DATASETS / "conll2003" / "train.txt", limit=50)
    assert len(sentences) == 50
    first = sentences[0]
    assert first.text == "EU rejects German call to boycott British lamb ."
    assert [(s.text, s.label) for s in first.spans or ()] == [("EU", "ORG"), ("German", "MISC"), ("British", "MISC")]
    assert sentences[1].text == "Peter Blackburn" and [s.text for s in sentences[1].spans or ()] == ["Peter Blackburn"]
    for example in sentences:
        for span in example.spans or ():
            assert example.text[span.start : span.end] == span.text
    assert load_conll(DATASETS / "conll2003" / "train.txt", limit=50)[7].id == sentences[7].id == "train:7"


@needs_shared
def test_conll_test_file_skips_docstart_markers() -> None:
    sentences = load_conll(DATASETS / "conll2003" / "test.txt", limit=400)
    assert all("-DOCSTART-" not in e.text for e in sentences)


@needs_shared
def test_restaurant8k_spans_default_start_and_trimmed_whitespace() -> None:
    examples = load_span_json(DATASETS / "restaurant8k" / "train_0.json")
    assert len(examples) == 8_198
    first = examples[0]
    assert first.text == "There will be 5 adults and 1 child."
    assert [(s.text, s.label) for s in first.spans or ()] == [("5 adults and 1 child", "people")]
    for example in examples:
        for span in example.spans or ():
            assert span.text == span.text.strip() and example.text[span.start : span.end] == span.text
    # startIndex absent means 0
    starts_at_zero = [e for e in examples if any(s.start == 0 for s in e.spans or ())]
    assert starts_at_zero, "expected some spans without startIndex"


@needs_shared
def test_dispatcher_picks_the_loader_by_format() -> None:
    assert load_dataset(DATASETS / "clinc150", split="val")[0].id == "clinc150:val:0"
    assert load_dataset(DATASETS / "clinc150" / "data_full.json", task="classification")[0].label is not None
    assert load_dataset(DATASETS / "conll2003" / "dev.txt", limit=3)[0].spans is not None
    assert load_dataset(DATASETS / "restaurant8k" / "test.json")[0].spans is not None
    with pytest.raises(ConfigError, match="entity_extraction"):
        load_dataset(DATASETS / "conll2003" / "dev.txt", task="classification")


# ---------------------------------------------------------------------------------------------------- tmp files


def test_jsonl_all_three_tasks_and_stable_ids(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "book a table", "label": "book"},
        {"id": "r-7", "text": "Ann in Paris", "spans": [{"start": 0, "end": 3, "label": "PER"}, [7, 12, "LOC"]]},
        {"text": "2+2?", "target": "4", "system_prompt": "Answer with a number."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    examples = load_jsonl(path)
    assert [e.id for e in examples] == ["mixed:0", "r-7", "mixed:2"]
    assert examples[0].label == "book"
    assert _keys(examples[1]) == [(0, 3, "PER"), (7, 12, "LOC")] and examples[1].spans[1].text == "Paris"
    assert examples[2].target == "4" and examples[2].system_prompt == "Answer with a number."
    assert examples[0].expected().label == "book"
    with pytest.raises(ValueError, match="label_field"):
        load_jsonl(path, task="classification")


def test_jsonl_rejects_span_outside_text(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "abc", "spans": [{"start": 1, "end": 9, "label": "X"}]}) + "\n")
    with pytest.raises(ValueError, match="outside"):
        load_jsonl(path)


def test_csv_with_configurable_columns_and_tsv(tmp_path: Path) -> None:
    csv_path = tmp_path / "intents.csv"
    csv_path.write_text('utterance,intent\n"hello, there",greet\nbye,leave\n')
    examples = load_csv(csv_path, task="classification", text_field="utterance", label_field="intent")
    assert [(e.text, e.label, e.id) for e in examples] == [("hello, there", "greet", "intents:0"), ("bye", "leave", "intents:1")]
    tsv_path = tmp_path / "qa.tsv"
    tsv_path.write_text("text\ttarget\nwhat is 2+3\t5\n")
    assert load_dataset(tsv_path, task="generation")[0].target == "5"
    with pytest.raises(ValueError, match="text_field"):
        load_csv(csv_path)


def test_conll_four_columns_and_iob1(tmp_path: Path) -> None:
    path = tmp_path / "tiny.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\n"
        "U.N. NNP I-NP I-ORG\nofficial NN I-NP O\nEkeus NNP I-NP I-PER\nheads VBZ I-VP O\n\n"
        "Paris NNP I-NP B-LOC\n"
    )
    examples = load_conll(path)
    assert [e.text for e in examples] == ["U.N. official Ekeus heads", "Paris"]
    assert [(s.text, s.label) for s in examples[0].spans or ()] == [("U.N.", "ORG"), ("Ekeus", "PER")]
    assert _keys(examples[1]) == [(0, 5, "LOC")]


def test_bio_round_trip_and_overlaps() -> None:
    text = "New York Times reporter"
    offsets = [(0, 3), (4, 8), (9, 14), (15, 23)]
    spans = tags_to_spans(["B-ORG", "I-ORG", "I-ORG", "O"], offsets, text)
    assert [(s.text, s.label) for s in spans] == [("New York Times", "ORG")]
    assert spans_to_tags(spans, offsets) == ["B-ORG", "I-ORG", "I-ORG", "O"]
    # A type change inside a run starts a new entity; a span inside a word tags the whole word.
    assert [s.key() for s in tags_to_spans(["B-ORG", "I-LOC", "O", "O"], offsets)] == [(0, 3, "ORG"), (4, 8, "LOC")]
    assert spans_to_tags([Span(start=5, end=7, label="LOC")], offsets) == ["O", "B-LOC", "O", "O"]


def test_subsample_is_seeded_balanced_and_order_preserving() -> None:
    data = [Example(text=f"t{i}", id=f"x{i}", label=f"l{i % 3}") for i in range(30)]
    a = subsample(data, per_label=4, seed=1)
    assert a == subsample(data, per_label=4, seed=1)
    assert a != subsample(data, per_label=4, seed=2)
    assert sorted(e.label for e in a) == ["l0"] * 4 + ["l1"] * 4 + ["l2"] * 4
    assert [int(e.id[1:]) for e in a] == sorted(int(e.id[1:]) for e in a)
    assert len(subsample(data, n=7, seed=0)) == 7
    with pytest.raises(ValueError, match="exactly one"):
        subsample(data, per_label=1, n=1)


def test_hub_loader_fails_clearly_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        load_hf_dataset("pioneer-test/definitely-not-a-dataset")
    with pytest.raises(ConfigError):
        load_dataset("pioneer-test/definitely-not-a-dataset")


def test_dispatcher_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.jsonl")
    odd = tmp_path / "data.parquet"
    odd.write_bytes(b"")
    with pytest.raises(ConfigError, match="load_jsonl"):
        load_dataset(odd)


def test_hostile_files_are_a_clear_value_error_in_every_loader(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # json.loads would raise RecursionError, which no caller expects
    (tmp_path / "deep.jsonl").write_text('{"text": "a", "label": ' + deep + "}\n", encoding="utf-8")
    (tmp_path / "deep.json").write_text(deep, encoding="utf-8")
    (tmp_path / "clinc").mkdir()
    (tmp_path / "clinc" / "data_full.json").write_text('{"train": ' + deep + "}", encoding="utf-8")
    (tmp_path / "deep.csv").write_text(f'text,spans\nAnna,"{deep[:1100] + deep[-1100:]}"\n', encoding="utf-8")
    (tmp_path / "huge.csv").write_text(f'text,label\n{"a" * 200_000},x\n', encoding="utf-8")

    for path in ("deep.jsonl", "deep.json", "clinc"):
        with pytest.raises(ValueError, match="depth"):
            load_dataset(tmp_path / path)
    with pytest.raises(ValueError, match="depth"):
        load_csv(tmp_path / "deep.csv", task="entity_extraction")
    with pytest.raises(ValueError, match="huge.csv:.*field larger"):  # the csv module's limit, as a clear error
        load_csv(tmp_path / "huge.csv")


@pytest.mark.parametrize("spans", ["5", '[[[[1]]]]', '[[0, "x", "L"]]', '[[0, 2, [1]]]'])
def test_malformed_spans_name_the_row_and_what_is_wrong(tmp_path: Path, spans: str) -> None:
    (tmp_path / "bad.jsonl").write_text('{"text": "Anna", "spans": ' + spans + "}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad:0: (spans must be a list|span .* (neither|needs))"):
        load_jsonl(tmp_path / "bad.jsonl")


def test_malformed_span_json_items_name_the_item(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('[{"userInput": {"text": "Anna"}, "labels": [{"slot": "p", "valueSpan": 7}]}]',
                                       encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.json\[0\]: labels must be a list"):
        load_span_json(tmp_path / "bad.json")

"""Local labelled corpora: matched by label names and confirmed on texts, used with provenance, trusted below the
user's examples (real embeddings and real training, tiny)."""

from __future__ import annotations

import json
from dataclasses import replace

from pioneer.coldstart import run_coldstart
from pioneer.coldstart.corpora import corpus_items, find_corpora
from pioneer.coldstart.sources import text_key
from pioneer.coldstart.task import analyse_task
from pioneer.registry import FileRegistry
from tests.unit.training.synthetic import INTENTS, entity_data, intent_data

DESCRIPTION = "Route a user's request to a voice assistant to one of its intents."
RENAMED = {"weather": "weather report", "music": "play_music", "alarm": "set-alarm", "transfer": "money transfer"}
ROTATED = {"weather": "music", "music": "alarm", "alarm": "transfer", "transfer": "weather"}


def _jsonl(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _corpora(root):
    """A matching corpus under other names, a corpus of another task, one whose names match but whose texts
    are another label's, and a broken file."""
    data = intent_data(6, seed=7, split="corpus")
    _jsonl(root / "assistant" / "intents.jsonl", [{"text": e.text, "label": RENAMED[e.label]} for e in data])
    (root / "reviews.csv").write_text("text,label\ngreat film,positive\nawful plot,negative\nloved it,positive\n",
                                      encoding="utf-8")
    _jsonl(root / "mislabelled.jsonl", [{"text": e.text, "label": ROTATED[e.label]} for e in data])
    (root / "broken.jsonl").write_text('{"text": "half a line', encoding="utf-8")
    return data


def test_corpora_are_matched_by_label_names_and_confirmed_on_texts(tmp_path) -> None:
    _corpora(tmp_path)
    task = analyse_task(DESCRIPTION, labels=list(INTENTS))
    matches = {m.name: m for m in find_corpora(tmp_path, task)}

    assert set(matches) == {"assistant/intents.jsonl", "reviews.csv", "mislabelled.jsonl", "broken.jsonl"}
    assert matches["assistant/intents.jsonl"].used
    assert matches["assistant/intents.jsonl"].labels == {v: k for k, v in RENAMED.items()}
    assert not matches["reviews.csv"].used and not matches["reviews.csv"].labels
    assert not matches["mislabelled.jsonl"].used and not matches["mislabelled.jsonl"].labels  # texts disagree
    assert not matches["broken.jsonl"].used and matches["broken.jsonl"].reason.startswith("unreadable")

    items = corpus_items(list(matches.values()))
    assert items and {i.source for i in items} == {"corpus:assistant/intents.jsonl"}
    assert {i.example.label for i in items} == set(INTENTS)


def test_coldstart_learns_from_a_corpus_below_the_users_examples(tmp_path, pioneer_home) -> None:
    corpus = _corpora(tmp_path / "corpora")
    user = intent_data(4, seed=1, split="user")
    registry = FileRegistry(tmp_path / "reg")
    result = run_coldstart(DESCRIPTION, model="intents", registry=registry, workdir=tmp_path / "work",
                           labels=list(INTENTS), examples=user, datasets=tmp_path / "corpora",
                           budget_minutes=0.2, eval_per_label=4)

    distinct = {text_key(e.text) for e in corpus} - {text_key(e.text) for e in user}  # one example per text
    assert result.acquired == {"user": len(user), "corpus:assistant/intents.jsonl": len(distinct)}
    # The evaluation set takes the user's examples first (half of each label's), then the corpus's.
    eval_sources = [i.source for i in result.eval_set.items]
    assert eval_sources.count("user") == len(user) // 2
    assert set(eval_sources) == {"user", "corpus:assistant/intents.jsonl"}
    assert "corpus:assistant/intents.jsonl" in result.train_provenance
    assert registry.get_alias("intents", "production") == result.decision.version
    assert [c["name"] for c in result.corpora if c["used"]] == ["assistant/intents.jsonl"]


ENTITY_DESCRIPTION = "Extract the people and the places named in a news sentence."
ENTITY_TYPES = ["person", "place"]


def _conll(path, examples) -> None:
    """``examples`` as a CoNLL file (one token and its BIO tag a line; the synthetic texts split on spaces)."""
    lines = []
    for example in examples:
        position = 0
        for token in example.text.split(" "):
            start = example.text.index(token, position)
            position = start + len(token)
            span = next((s for s in example.spans if s.start <= start < s.end), None)
            tag = "O" if span is None else f"{'B' if span.start == start else 'I'}-{span.label}"
            lines.append(f"{token} {tag}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _entity_corpora(root):
    """A CoNLL corpus under the usual NER abbreviations, one whose types are swapped, an intent corpus and prose."""
    data = entity_data(24, seed=7, split="corpus")
    _conll(root / "news" / "train.conll", data)
    swap = {"PER": "LOC", "LOC": "PER"}
    _jsonl(root / "swapped.jsonl", [{"text": e.text, "spans": [
        {"start": s.start, "end": s.end, "label": swap[s.label]} for s in e.spans]} for e in data])
    _jsonl(root / "intents.jsonl", [{"text": e.text, "label": e.label} for e in intent_data(3, seed=7, split="c")])
    (root / "README.txt").write_text("This folder holds the corpora we collected\n", encoding="utf-8")
    return data


def test_entity_corpora_are_matched_by_type_names_and_confirmed_on_mentions(tmp_path) -> None:
    data = _entity_corpora(tmp_path)
    task = analyse_task(ENTITY_DESCRIPTION, kind="entity_extraction", labels=ENTITY_TYPES)
    matches = {m.name: m for m in find_corpora(tmp_path, task)}

    assert set(matches) == {"news/train.conll", "swapped.jsonl", "intents.jsonl", "README.txt"}
    assert matches["news/train.conll"].used
    assert matches["news/train.conll"].labels == {"PER": "person", "LOC": "place"}  # "LOC" read as "location"
    assert not matches["swapped.jsonl"].labels  # the names match, the mentions are the other type's
    assert not matches["intents.jsonl"].used and not matches["README.txt"].used
    assert matches["README.txt"].reason.startswith("unreadable")

    items = corpus_items(list(matches.values()))
    assert {i.source for i in items} == {"corpus:news/train.conll"}
    assert len(items) == len(data)
    by_text = {i.example.text: i.example for i in items}
    for example in data:  # every mention kept, under the task's type names
        got = by_text[example.text].spans
        assert [(s.start, s.end) for s in got] == [(s.start, s.end) for s in example.spans]
        assert [s.label for s in got] == [{"PER": "person", "LOC": "place"}[s.label] for s in example.spans]


def test_an_entity_sentence_with_a_mention_of_an_unmatched_type_is_left_out(tmp_path) -> None:
    rows = [{"text": "Anna flew to Oslo .", "spans": [{"start": 0, "end": 4, "label": "PER"},
                                                       {"start": 13, "end": 17, "label": "LOC"}]},
            {"text": "Anna joined Acme .", "spans": [{"start": 0, "end": 4, "label": "PER"},
                                                    {"start": 12, "end": 16, "label": "ORG"}]},
            {"text": "Talks ended .", "spans": []}]
    _jsonl(tmp_path / "news.jsonl", rows)
    task = analyse_task(ENTITY_DESCRIPTION, kind="entity_extraction", labels=ENTITY_TYPES)
    items = corpus_items(find_corpora(tmp_path, task))
    # ORG matches no task type: teaching "Acme" as no entity would be wrong, so that sentence stays out.
    assert sorted(i.example.text for i in items) == ["Anna flew to Oslo .", "Talks ended ."]


def test_entity_coldstart_learns_from_a_corpus_below_the_users_examples(tmp_path, pioneer_home) -> None:
    corpus = _entity_corpora(tmp_path / "corpora")
    user = [replace(e, spans=tuple(replace(s, label={"PER": "person", "LOC": "place"}[s.label]) for s in e.spans))
            for e in entity_data(6, seed=1, split="user")]
    registry = FileRegistry(tmp_path / "reg")
    result = run_coldstart(ENTITY_DESCRIPTION, model="ner", registry=registry, workdir=tmp_path / "work",
                           kind="entity_extraction", labels=ENTITY_TYPES, examples=user,
                           datasets=tmp_path / "corpora", budget_minutes=0.0, metric_floor=0.0,
                           settings={"calibrated_examples": None})  # about data flow, not the tagger's steps

    distinct = {text_key(e.text) for e in corpus} - {text_key(e.text) for e in user}
    assert result.acquired == {"user": len(user), "corpus:news/train.conll": len(distinct)}
    assert "corpus:news/train.conll" in result.train_provenance
    assert [c["name"] for c in result.corpora if c["used"]] == ["news/train.conll"]
    assert registry.get_alias("ner", "production") == result.decision.version

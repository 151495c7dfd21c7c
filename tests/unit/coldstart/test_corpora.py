"""Local labelled corpora: matched by label names and confirmed on texts, used with provenance, trusted below the
user's examples (real embeddings and real training, tiny)."""

from __future__ import annotations

import json

from pioneer.coldstart import run_coldstart
from pioneer.coldstart.corpora import corpus_items, find_corpora
from pioneer.coldstart.sources import text_key
from pioneer.coldstart.task import analyse_task
from pioneer.registry import FileRegistry
from tests.unit.training.synthetic import INTENTS, intent_data

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

"""Entity-extraction cold start: teacher answers read into spans, mention-lexicon curation, and a real tiny run
from a description to a registered tagger."""

from __future__ import annotations

import json

import pytest

from pioneer.coldstart import SimulatedTeacher, Sourced, run_coldstart
from pioneer.coldstart.acquire import label_with_teacher, synthesize_with_teacher
from pioneer.coldstart.curate import disputed_spans
from pioneer.coldstart.sources import AcquiredStore
from pioneer.coldstart.task import analyse_task
from pioneer.coldstart.teacher import TeacherError, parse_spans, teacher_from_option
from pioneer.events import Span
from pioneer.registry import FileRegistry
from pioneer.training.base import Example
from tests.unit.coldstart.test_teacher import _chat
from tests.unit.training.synthetic import entity_data

DESCRIPTION = "Extract the people (PER) and locations (LOC) named in a news sentence."


def _task():
    return analyse_task(DESCRIPTION, kind="entity_extraction", labels=["PER", "LOC"])


def test_entity_answers_become_spans_and_garbage_is_refused() -> None:
    text = "Anna flew to Oslo and Anna stayed"
    spans = parse_spans('Sure: [{"text": "Anna", "type": "PER"}, {"text": "Oslo", "type": "loc"},'
                        ' {"text": "Anna", "type": "PER"}]', text, ["PER", "LOC"])
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 4, "PER"), (13, 17, "LOC"), (22, 26, "PER")]
    assert parse_spans('[{"text": "Paris", "type": "LOC"}]', text, ["PER", "LOC"]) is None  # not in the text
    assert parse_spans('[{"text": "Oslo", "type": "ORG"}]', text, ["PER", "LOC"]) is None  # not a known type
    assert parse_spans('[{"text": "nna", "type": "PER"}]', text, ["PER", "LOC"]) is None  # not a whole word
    assert parse_spans("Anna is a person", text, ["PER", "LOC"]) is None
    assert parse_spans("[" * 5000 + "]" * 5000, text, ["PER", "LOC"]) is None  # deeper than JSON parses: garbage


def test_simulated_entity_teacher_errs_at_its_rate_and_labelling_journals_spans(tmp_path) -> None:
    data = entity_data(60, seed=3, split="pool")
    gold = {e.text: e.spans for e in data}
    teacher = SimulatedTeacher(gold, error_rate=0.2)
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = label_with_teacher(store, [e.text for e in data], teacher, _task())
    assert report.garbage == 0 and report.labelled == len({e.text for e in data})
    wrong = sum(tuple(i.example.spans) != tuple(gold[i.example.text]) for i in store.items)
    assert 0 < wrong < 0.4 * len(store.items)
    assert all(i.source == "teacher:simulated-20%" for i in AcquiredStore(store.path).items)

    broken = SimulatedTeacher({}, error_rate=0.0)  # answers "" to everything: garbage, then a clear error
    with pytest.raises(TeacherError, match="name no label"):
        label_with_teacher(AcquiredStore(tmp_path / "b.jsonl"), [f"text {i}" for i in range(30)], broken, _task())


def test_lexicon_curation_disputes_retyped_and_dropped_mentions() -> None:
    def item(n: int, text: str, spans: list[tuple[str, str]], source: str = "teacher:t") -> Sourced:
        found = [Span(start=text.index(m), end=text.index(m) + len(m), label=t, text=m) for m, t in spans]
        return Sourced(Example(text=text, spans=tuple(found), id=f"x{n}"), source)

    items = [item(n, f"Anna met Bob in Oslo {n}", [("Anna", "PER"), ("Bob", "PER"), ("Oslo", "LOC")]) for n in range(10)]
    items += [
        item(10, "Anna went to Oslo", [("Anna", "PER"), ("Oslo", "PER")]),  # retyped
        item(11, "Anna went to Oslo again", [("Anna", "PER")]),  # Oslo dropped
        item(12, "Bob went to Lima", [("Bob", "PER"), ("Lima", "LOC")]),  # Lima seen once: not settled
        item(13, "Oslo is cold", [], source="user"),  # a user's reading is never disputed
    ]
    assert disputed_spans(items) == {"x10", "x11"}


def test_entity_coldstart_registers_a_tagger_never_trained_on_its_evaluation_set(tmp_path, pioneer_home) -> None:
    user = entity_data(6, seed=1, split="user")
    pool = entity_data(30, seed=2, split="pool")
    teacher = SimulatedTeacher({e.text: e.spans for e in pool}, error_rate=0.05)
    registry = FileRegistry(tmp_path / "reg")
    result = run_coldstart(DESCRIPTION, model="ner", registry=registry, workdir=tmp_path / "work",
                           kind="entity_extraction", labels=["PER", "LOC"], examples=user,
                           unlabeled=[e.text for e in pool], teacher=teacher, budget_minutes=0.0, metric_floor=0.0,
                           settings={"calibrated_examples": None})  # about data flow: the 500-sentence steps would train 10x longer

    assert result.task.metric == "entity_f1" and result.teacher == "simulated-5%"
    assert set(result.acquired) == {"user", "teacher:simulated-5%"}
    assert len(result.search.attempts) == 1  # a zero budget trains only the first candidate
    trained = {json.loads(line)["text"] for line in (tmp_path / "work" / "train.jsonl").read_text().splitlines()}
    assert trained and trained.isdisjoint({i.example.text for i in result.eval_set.gate})
    assert {i.example.text for i in result.eval_set.validation} <= trained  # the release refits on validation
    assert len(result.eval_set.items) <= len(trained) // 2  # most of the data is left to train on
    assert registry.get_alias("ner", "production") == result.decision.version


def test_teacher_written_sentences_are_tagged_by_the_teacher_and_kept_as_synthetic(tmp_path, endpoint) -> None:
    written = entity_data(12, seed=8, split="written")
    teacher = SimulatedTeacher({e.text: e.spans for e in written}, error_rate=0.0,
                               writes={"": [e.text for e in written]})
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = synthesize_with_teacher(store, teacher, _task(), per_label=8)
    assert report.labelled == 8 and {i.source for i in store.items} == {"synthetic:simulated-0%"}
    gold = {e.text: e.spans for e in written}
    assert all(tuple(i.example.spans) == tuple(gold[i.example.text]) for i in store.items)

    prompts: list[str] = []

    def answer(body: dict) -> tuple[int, bytes]:
        prompts.append(body["messages"][0]["content"])
        if "Write 1 new" in prompts[-1]:
            return _chat("Dana met reporters in Lima .")
        return _chat('[{"text": "Dana", "type": "PER"}, {"text": "Lima", "type": "LOC"}]')

    asked = teacher_from_option(endpoint(answer) + "#production")
    store = AcquiredStore(tmp_path / "endpoint.jsonl")
    synthesize_with_teacher(store, asked, _task(), per_label=1, like=["Anna flew to Oslo on Monday ."])
    assert "mentioning some of: PER, LOC" in prompts[0] and "- Anna flew to Oslo" in prompts[0]
    assert [[s.label for s in i.example.spans] for i in store.items] == [["PER", "LOC"]]

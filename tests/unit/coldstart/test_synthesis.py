"""Teacher synthesis: texts a teacher writes per label, kept as the least trusted source and never evaluated on."""

from __future__ import annotations

import json

import pytest

from pioneer.coldstart import (
    AcquiredStore,
    SimulatedTeacher,
    TeacherError,
    analyse_task,
    run_coldstart,
)
from pioneer.coldstart.acquire import synthesize_with_teacher
from pioneer.coldstart.teacher import teacher_from_option
from pioneer.registry import FileRegistry
from tests.unit.coldstart.test_teacher import _chat
from tests.unit.training.synthetic import INTENTS, intent_data

TASK = analyse_task("Route a user's request to one of: weather, music, alarm")


def test_endpoint_teacher_writes_texts_per_label_once(endpoint, tmp_path) -> None:
    asked: list[str] = []

    def answer(body: dict) -> tuple[int, bytes]:
        prompt = body["messages"][0]["content"]
        label = prompt.split("Label: ", 1)[1].split("\n", 1)[0]
        asked.append(label)
        return _chat(f"Sure:\n1. \"{label} request one\"\n2. {label} request two\n- {label} request three")

    teacher = teacher_from_option(endpoint(answer) + "#production")
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = synthesize_with_teacher(store, teacher, TASK, per_label=2)
    assert report.labelled == 6 and sorted(asked) == sorted(TASK.labels)
    assert {(i.example.label, i.source) for i in store.items} == {
        (label, f"synthetic:{teacher.name}") for label in TASK.labels}
    assert {i.example.text for i in store.items if i.example.label == "music"} == {"music request one",
                                                                                "music request two"}
    synthesize_with_teacher(AcquiredStore(store.path), teacher, TASK, per_label=2)  # a rerun: all there already
    assert len(asked) == 3


def test_a_teacher_that_cannot_write_says_so(tmp_path) -> None:
    with pytest.raises(TeacherError, match="cannot write examples"):
        synthesize_with_teacher(AcquiredStore(tmp_path / "a.jsonl"), SimulatedTeacher({}, error_rate=0.0), TASK,
                                per_label=3)


def test_synthetic_examples_train_but_never_evaluate(tmp_path, pioneer_home) -> None:
    user = intent_data(6, seed=1, split="user")
    held = intent_data(8, seed=2, split="held")
    writes = {label: [e.text for e in held if e.label == label] for label in INTENTS}
    teacher = SimulatedTeacher({}, error_rate=0.0, writes=writes)
    result = run_coldstart("Route a user's request to a voice assistant to one of its intents.", model="intents",
                           registry=FileRegistry(tmp_path / "reg"), workdir=tmp_path / "work", labels=list(INTENTS),
                           examples=user, teacher=teacher, synthesize_per_label=5, budget_minutes=0.0,
                           eval_per_label=4)
    assert result.acquired["synthetic:simulated-0%"] > 0
    assert all(i.source == "user" for i in result.eval_set.items)
    trained = [json.loads(line) for line in (tmp_path / "work" / "train.jsonl").read_text().splitlines()]
    assert any(row["source"] == "synthetic:simulated-0%" for row in trained)

"""Teachers: the endpoint client over real HTTP, the simulated teacher's error rate, and failures that keep data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from pioneer.chat import ChatEndpoint
from pioneer.coldstart import (
    AcquiredStore,
    EndpointTeacher,
    SimulatedTeacher,
    Teacher,
    TeacherError,
    analyse_task,
    label_with_teacher,
    teacher_from_option,
)
from pioneer.coldstart.acquire import GARBAGE_STREAK
from pioneer.errors import ConfigError

TASK = analyse_task("Route a user's request to one of: weather, music, alarm")
TEXTS = [f"request number {i} about the weather" for i in range(12)]

Behaviour = Callable[[dict], tuple[int, bytes]]


def _chat(content: str) -> tuple[int, bytes]:
    return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


def test_endpoint_teacher_labels_over_http(endpoint, tmp_path) -> None:
    seen: list[dict] = []

    def answer(body: dict) -> tuple[int, bytes]:
        seen.append(body)
        return _chat("Label: weather")

    teacher = teacher_from_option(endpoint(answer) + "#production")
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = label_with_teacher(store, TEXTS[:3], teacher, TASK)
    assert report.labelled == 3
    assert {i.example.label for i in store.items} == {"weather"}
    assert {i.source for i in store.items} == {"teacher:production@" + teacher.chat.base_url}
    assert seen[0]["model"] == "production" and "music" in seen[0]["messages"][0]["content"]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        (lambda body: (500, b'{"error": "boom"}'), "HTTP 500"),
        (lambda body: (200, b"<html>not json</html>"), "without choices"),
        (lambda body: (200, b'{"choices": []}'), "without choices"),
        (lambda body: (time.sleep(1.0), _chat("weather"))[1], "did not answer within"),
    ],
    ids=["http-error", "not-json", "no-choices", "timeout"],
)
def test_endpoint_failures_are_clear_and_keep_what_was_acquired(endpoint, tmp_path, behaviour, message) -> None:
    calls = {"n": 0}

    def flaky(body: dict) -> tuple[int, bytes]:
        calls["n"] += 1
        return _chat("weather") if calls["n"] <= 4 else behaviour(body)

    teacher = EndpointTeacher(ChatEndpoint(endpoint(flaky), "production", timeout=0.3))
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    with pytest.raises(TeacherError, match=message) as caught:
        label_with_teacher(store, TEXTS, teacher, TASK)
    assert "4 examples acquired so far are kept" in str(caught.value)
    # The journal on disk holds them: a fresh store (a new process) reads them back.
    assert len(AcquiredStore(tmp_path / "acquired.jsonl").items) == 4


def test_unreachable_teacher_is_a_clear_error(tmp_path) -> None:
    teacher = EndpointTeacher(ChatEndpoint("http://127.0.0.1:9/v1", "production", timeout=0.5))
    with pytest.raises(TeacherError, match="unreachable|did not answer"):
        label_with_teacher(AcquiredStore(tmp_path / "a.jsonl"), TEXTS[:2], teacher, TASK)


class CountingTeacher(Teacher):
    """Answers from a list; raises once it runs out (a teacher that dies part-way)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        self.name = "counting"

    def classify(self, text: str, task) -> str:
        if len(self.asked) >= len(self.answers):
            raise ConnectionError("teacher went away")
        self.asked.append(text)
        return self.answers[len(self.asked) - 1]


def test_a_rerun_resumes_where_the_failed_teacher_stopped(tmp_path) -> None:
    path = tmp_path / "acquired.jsonl"
    with pytest.raises(TeacherError, match="teacher went away.*5 examples acquired so far are kept"):
        label_with_teacher(AcquiredStore(path), TEXTS, CountingTeacher(["music"] * 5), TASK)
    again = CountingTeacher(["alarm"] * 100)
    report = label_with_teacher(AcquiredStore(path), TEXTS, again, TASK)
    assert report.already_known == 5 and report.labelled == len(TEXTS) - 5
    assert again.asked == TEXTS[5:]
    labels = [i.example.label for i in AcquiredStore(path).items]
    assert labels == ["music"] * 5 + ["alarm"] * (len(TEXTS) - 5)


def test_garbage_answers_are_skipped_then_judged_broken(tmp_path) -> None:
    path = tmp_path / "acquired.jsonl"
    answers = ["weather", "I am not sure", "music"] + ["As an AI, I cannot"] * GARBAGE_STREAK
    texts = [f"text {i}" for i in range(len(answers) + 5)]
    with pytest.raises(TeacherError, match=f"{GARBAGE_STREAK} answers in a row that name no label"):
        label_with_teacher(AcquiredStore(path), texts, CountingTeacher(answers), TASK)
    store = AcquiredStore(path)
    assert [i.example.label for i in store.items] == ["weather", "music"]
    assert store.asked("text 1")  # the unusable answer is recorded, so a rerun does not ask again


def test_simulated_teacher_error_rate_is_what_it_states() -> None:
    gold = {f"text {i}": ("weather", "music", "alarm")[i % 3] for i in range(2000)}
    for rate in (0.05, 0.2):
        teacher = SimulatedTeacher(gold, error_rate=rate)
        wrong = sum(teacher.classify(t, TASK) != label for t, label in gold.items())
        assert abs(wrong / len(gold) - rate) < 0.02, (rate, wrong)
        assert teacher.name == f"simulated-{rate * 100:g}%"


def test_teacher_option_parsing(tmp_path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "play jazz", "label": "music"}\n')
    teacher = teacher_from_option(f"simulated:{gold}:5%")
    assert isinstance(teacher, SimulatedTeacher) and teacher.error_rate == 0.05
    with pytest.raises(ConfigError, match="RATE"):
        teacher_from_option(f"simulated:{gold}:often")
    with pytest.raises(ConfigError, match="http"):
        teacher_from_option("ftp://example/v1")


def test_endpoint_teacher_extracts_entities_over_http(endpoint, tmp_path) -> None:
    task = analyse_task("Extract the people and cities named in a sentence.", kind="entity_extraction",
                        labels=["PER", "LOC"])
    seen: list[dict] = []

    def answer(body: dict) -> tuple[int, bytes]:
        seen.append(body)
        text = body["messages"][0]["content"].split("Text: ", 1)[1].split("\n", 1)[0]
        if "Anna" not in text:
            return _chat("I am not sure.")
        return _chat('```json\n[{"text": "Anna", "type": "PER"}, {"text": "Oslo", "type": "LOC"}]\n```')

    teacher = teacher_from_option(endpoint(answer) + "#production")
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = label_with_teacher(store, ["Anna flew to Oslo", "nothing to see"], teacher, task)
    assert (report.labelled, report.garbage) == (1, 1)
    [item] = store.items
    assert [(s.start, s.end, s.label) for s in item.example.spans] == [(0, 4, "PER"), (13, 17, "LOC")]
    assert "JSON list" in seen[0]["messages"][0]["content"] and "PER" in seen[0]["messages"][0]["content"]

"""Generation cold start: a checker filters the teacher's answers, every answer keeps its provenance, and the
search weighs plain against chain-of-thought supervision (no model is trained here: seconds)."""

from __future__ import annotations

import json

import pytest

from pioneer.coldstart import (
    AcquiredStore,
    CandidateSearch,
    SimulatedTeacher,
    Sourced,
    label_with_teacher,
)
from pioneer.coldstart.acquire import synthesize_with_teacher
from pioneer.coldstart.checking import checker_from_option
from pioneer.coldstart.search import Recipe
from pioneer.coldstart.task import analyse_task
from pioneer.coldstart.teacher import teacher_from_option
from pioneer.errors import ConfigError
from pioneer.synthetic.arithmetic import ArithmeticTask
from pioneer.training.base import Example
from tests.unit.coldstart.test_teacher import _chat

DESCRIPTION = "Solve the arithmetic word problem: write the sum, then the final number."


def _worked(task: ArithmeticTask, n: int) -> dict[str, str]:
    return {p.text: f"{p.a} {p.op} {p.b} = {p.answer}" for p in task.problems(n, stream="pool")}


def test_checker_rejects_wrong_teacher_answers_and_journals_why(tmp_path) -> None:
    gold = _worked(ArithmeticTask(seed=3), 60)
    teacher = SimulatedTeacher(gold, error_rate=0.3)
    task = analyse_task(DESCRIPTION, kind="generation")
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = label_with_teacher(store, list(gold), teacher, task, check=checker_from_option("numeric:arithmetic"))

    wrong = sum(teacher.classify(text, task) != answer for text, answer in gold.items())
    assert 5 < wrong < 30 and report.rejected == wrong and report.labelled == len(gold) - wrong
    assert all(gold[i.example.text] == i.example.target for i in store.items)  # only right answers are kept
    assert {i.source for i in store.items} == {"teacher:simulated-30%"}
    rows = [json.loads(line) for line in (tmp_path / "acquired.jsonl").read_text().splitlines()]
    rejected = [r for r in rows if r.get("answered") is False]
    assert len(rejected) == wrong and all(r["rejected"].startswith("numeric:arithmetic: answered") for r in rejected)
    # A rerun asks nothing again: accepted and rejected texts are both journalled.
    again = label_with_teacher(AcquiredStore(tmp_path / "acquired.jsonl"), list(gold), teacher, task,
                               check=checker_from_option("numeric:arithmetic"))
    assert again.asked == 0 and again.already_known == len(gold)


def test_unchecked_generation_answers_are_kept_as_written(tmp_path) -> None:
    gold = _worked(ArithmeticTask(seed=4), 10)
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = label_with_teacher(store, list(gold), SimulatedTeacher(gold, error_rate=0.5),
                                analyse_task(DESCRIPTION, kind="generation"))
    assert report.rejected == 0 and report.labelled == len(gold) == len(store.items)


@pytest.mark.parametrize("option", ["numeric", "numeric:nothing", "json:/no/such/schema.json", "regex:(", "xml:a"])
def test_a_bad_checker_option_is_a_clear_error(option: str) -> None:
    with pytest.raises(ConfigError, match="--checker"):
        checker_from_option(option)


def test_search_offers_chain_of_thought_and_plain_supervision_on_the_same_answers() -> None:
    check = checker_from_option("numeric:arithmetic")
    items = [Sourced(Example(text=f"q{k}", id=f"t{k}", target=f"{k} + 1 = {k + 1}"), "teacher:t") for k in range(4)]
    items.append(Sourced(Example(text="q-user", id="u", target="9"), "user"))
    search = CandidateSearch(kind="generation", final_answer=check.final_answer)
    search._items, search._disputed = items, None

    seeds = [(kind, what) for kind, what, _ in search._seeds()]
    assert ("strategy", "chain-of-thought supervision") in seeds
    plain = {i.example.id: i.example.target for i in search._pool(Recipe())}
    worked = {i.example.id: i.example.target for i in search._pool(Recipe(worked=True))}
    assert plain == {"t0": "1", "t1": "2", "t2": "3", "t3": "4", "u": "9"}
    assert worked["t2"] == "2 + 1 = 3" and worked["u"] == "9"
    assert {i.source for i in search._pool(Recipe())} == {"teacher:t", "user"}  # provenance survives the cut
    # Answers that are already bare: the two supervisions are the same, so the search does not offer both.
    bare = CandidateSearch(kind="generation", final_answer=check.final_answer)
    bare._items, bare._disputed = [Sourced(Example(text="q", id="b", target="5"), "user")], None
    assert all(what != "chain-of-thought supervision" for _, what, _ in bare._seeds())


def test_teacher_written_inputs_are_answered_checked_and_kept_as_synthetic(tmp_path) -> None:
    arithmetic = ArithmeticTask(seed=5)
    written = _worked(arithmetic, 60)  # what the teacher "writes": fresh problems it also answers
    teacher = SimulatedTeacher(written, error_rate=0.3, writes={"": list(written)})
    task = analyse_task(DESCRIPTION, kind="generation")
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    check = checker_from_option("numeric:arithmetic")
    report = synthesize_with_teacher(store, teacher, task, per_label=30, check=check)

    asked = list(written)[:30]
    wrong = sum(teacher.classify(text, task) != written[text] for text in asked)
    assert report.asked == 30 and report.rejected == wrong > 0 and report.labelled == 30 - wrong
    assert {i.source for i in store.items} == {"synthetic:simulated-30%"}
    assert all(i.example.id.startswith("synthetic:") for i in store.items)
    assert all(written[i.example.text] == i.example.target for i in store.items)  # wrong answers never kept
    # A rerun asks for what is still missing: new inputs, none asked before.
    again = synthesize_with_teacher(AcquiredStore(store.path), teacher, task, per_label=30, check=check)
    assert again.asked == report.rejected


def test_endpoint_teacher_writes_inputs_in_the_manner_of_the_users(endpoint, tmp_path) -> None:
    first, second, users = ArithmeticTask(seed=6).problems(3, stream="written")
    prompts: list[str] = []

    def answer(body: dict) -> tuple[int, bytes]:
        prompt = body["messages"][0]["content"]
        prompts.append(prompt)
        if "Write 2 new" in prompt:
            return _chat(f"1. {first.text}\n2. {second.text}")
        problem = first if first.text in prompt else second
        wrong = 1 if problem is second else 0  # the teacher slips on the second: the checker drops it
        return _chat(f"{problem.a} {problem.op} {problem.b} = {problem.answer + wrong}")

    teacher = teacher_from_option(endpoint(answer) + "#production")
    store = AcquiredStore(tmp_path / "acquired.jsonl")
    report = synthesize_with_teacher(store, teacher, analyse_task(DESCRIPTION, kind="generation"), per_label=2,
                                     check=checker_from_option("numeric:arithmetic"), like=[users.text])
    assert f"- {users.text}" in prompts[0] and len(prompts) == 3
    assert report.labelled == 1 and report.rejected == 1
    assert [(i.example.text, i.source) for i in store.items] == [(first.text, f"synthetic:{teacher.name}")]

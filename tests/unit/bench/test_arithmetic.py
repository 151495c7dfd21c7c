"""The arithmetic word-problem generator: every variant's answer is what its text says."""

from __future__ import annotations

import random

import pytest

from pioneer.synthetic.arithmetic import ArithmeticTask


@pytest.mark.parametrize("seed", range(10))
def test_variants_keep_or_change_the_answer_as_documented(seed: int) -> None:
    task = ArithmeticTask(seed=seed)
    rng = random.Random(seed)
    problem = task.problem(rng)
    assert problem.answer >= 0 and task.solve(problem.text) == problem.answer
    distracted = task.with_distractor(problem, rng)
    assert distracted.answer == problem.answer and distracted.text.endswith(problem.text)
    drifted = task.drifted(problem, rng)
    assert drifted.answer == problem.answer and drifted.text != problem.text
    assert task.solve(drifted.text) == problem.answer
    assert task.negated(problem).answer == problem.a
    assert task.swapped_answer(problem) != problem.answer or problem.b == 0
    premise, wrong = task.false_premise(problem, rng)
    assert wrong != problem.answer and str(wrong) in premise.text and premise.answer == problem.answer


def test_examples_are_seeded_and_carry_the_system_prompt() -> None:
    a = ArithmeticTask(seed=1).examples(5, stream="s")
    b = ArithmeticTask(seed=1).examples(5, stream="s")
    assert [e.text for e in a] == [e.text for e in b]
    assert all(e.system_prompt and e.target is not None for e in a)
    with pytest.raises(ValueError):
        ArithmeticTask(largest=1)


def test_planted_wrong_answers_are_never_right_and_keep_the_answer_format() -> None:
    from pioneer.bench.sources import ArithmeticSource

    for answer_format in ("number", "equation"):
        task = ArithmeticTask(seed=0, largest=3, answer_format=answer_format)  # many answers of 0
        source = ArithmeticSource(task, base=4, validation=2, gate=2)
        rng = random.Random(0)
        for _ in range(200):
            example = source.clean(rng)
            wrong = source.wrong(example, rng).text or ""
            assert task.solve(example.text) != int(wrong.rpartition("=")[2])
            assert ("=" in wrong) is (answer_format == "equation")

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

"""The generation source: arithmetic word problems Pioneer generates itself (no external data at all).

Because every problem is built from parts (:class:`~pioneer.synthetic.arithmetic.WordProblem`), the noise
kinds that only make sense with numbers are exact here: a distracting number that does not change the answer
(fixable), a reworded question (drift, fixable), and the poison of the reference benchmark: swapped numbers in
the answer, a negated event whose feedback keeps the old answer, a false premise the feedback believes, a
clustered flip (every subtraction about one item answered as an addition) and injections demanding a number.
Every answer, right or planted, is written in the task's answer format (a wrong equation keeps its own
operation, or the other one where the poison is a mix-up of the operation).
"""

from __future__ import annotations

import dataclasses
import random
from typing import ClassVar

from pioneer.bench import noise
from pioneer.bench.sources.base import BaseSets, Noised, TaskSource
from pioneer.events import Output
from pioneer.synthetic.arithmetic import ArithmeticTask, WordProblem
from pioneer.training.base import Example


class ArithmeticSource(TaskSource):
    """Word-problem traffic. See the module docstring.

    Parameters
    ----------
    task
        The generator.
    base, validation, gate
        Sizes of the base model's sets (usual problems only).
    flip_item
        The item whose subtraction problems the clustered flips answer as additions.
    base_ops
        The operations of the base model's sets; traffic asks both. Leaving one out plants a blind spot: a
        model that never saw a subtraction writes every answer as an addition.
    """

    task: ClassVar[str] = "generation"
    kinds: ClassVar[frozenset[str]] = frozenset(
        {"typo", "preamble", "number_distractor", "paraphrase_drift",
         "mislabel", "clustered_flip", "number_swap", "negation_flip", "false_premise",
         "prompt_injection", "jailbreak"}
    )

    def __init__(
        self, task: ArithmeticTask, *, base: int, validation: int = 40, gate: int = 60, flip_item: str = "marbles",
        base_ops: tuple[str, ...] = ("+", "-"),
    ) -> None:
        if not base_ops or set(base_ops) - {"+", "-"}:
            raise ValueError(f"base_ops must be a non-empty subset of ('+', '-'), got {base_ops!r}")
        self.generator = task
        self.base_ops = base_ops
        self._sets = BaseSets(*(self._base(n, stream) for n, stream in
                                ((base, "base"), (validation, "validation"), (gate, "gate"))))
        self.flip_item = flip_item
        self._seen = {e.text for e in [*self._sets.train, *self._sets.validation, *self._sets.gate]}
        self._n = 0

    def _base(self, n: int, stream: str) -> list[Example]:
        if set(self.base_ops) == {"+", "-"}:
            return self.generator.examples(n, stream=stream)
        rng = random.Random(f"arithmetic-{self.generator.seed}-{stream}-{'/'.join(self.base_ops)}")
        return [self.generator.example(self.generator.problem(rng, op=rng.choice(self.base_ops)), f"arith:{stream}:{i}")
                for i in range(n)]

    def base_sets(self) -> BaseSets:
        return self._sets

    def _problem(self, rng: random.Random, **kwargs: object) -> WordProblem:
        # Fresh problems only: a text the base data (or an earlier log) had would leak into the held-out set.
        for _ in range(1000):
            problem = self.generator.problem(rng, **kwargs)  # type: ignore[arg-type]
            if problem.text not in self._seen:
                self._seen.add(problem.text)
                return problem
        raise ValueError("could not draw a fresh problem; raise ArithmeticTask.largest or ask for fewer logs")

    def _example(self, problem: WordProblem, target: int | None = None) -> Example:
        self._n += 1
        return self.generator.example(problem, f"arith:traffic:{self._n}", target=target)

    def clean(self, rng: random.Random, split: str = "train") -> Example:
        return self._example(self._problem(rng))

    def wrong(self, example: Example, rng: random.Random) -> Output:
        calculation, _, value = (example.target or "0").rpartition("=")  # "7 + 4 = 11" or a bare "11"
        delta = rng.choice((-4, -3, -2, -1, 1, 2, 3, 4, 10))
        # Never negative and never the right answer (clamping at 0 once planted right answers as mislabels).
        wrong = int(value) + delta if int(value) + delta >= 0 else int(value) - delta
        return Output(text=f"{calculation}= {wrong}" if calculation else str(wrong))

    def answer_text(self, output: Output) -> str:
        return str(output.text)

    def specific(self, kind: str, rng: random.Random, split: str = "train") -> Noised | None:
        gen = self.generator
        if kind == "typo":
            example = self.clean(rng)
            return Noised(noise.add_typos(example, rng, n=2), example.expected())
        if kind == "number_distractor":
            example = self._example(gen.with_distractor(self._problem(rng), rng))
            return Noised(example, example.expected())
        if kind == "paraphrase_drift":
            problem = gen.drifted(self._problem(rng), rng)
            return Noised(self._example(problem), Output(text=gen.render(problem)), pattern=f"drift:{problem.op}")
        if kind == "clustered_flip":
            problem = self._problem(rng, op="-")
            problem = dataclasses.replace(problem, item=self.flip_item)
            if problem.text in self._seen:
                return None
            self._seen.add(problem.text)
            return Noised(self._example(problem), Output(text=self._swapped(problem)),
                          pattern=f"flip:{self.flip_item}-minus")
        if kind == "number_swap":
            problem = self._problem(rng)
            return Noised(self._example(problem), Output(text=self._swapped(problem)))
        if kind == "negation_flip":
            original = self._problem(rng)
            negated = gen.negated(original)
            return Noised(self._example(negated), Output(text=gen.render(original)))
        if kind == "false_premise":
            problem, wrong = gen.false_premise(self._problem(rng), rng)
            return Noised(self._example(problem), Output(text=gen.render(problem, wrong)))
        return None

    def _swapped(self, problem: WordProblem) -> str:
        """The answer of the other operation on the same numbers, written as that operation."""
        return self.generator.render(problem, self.generator.swapped_answer(problem), op="-" if problem.op == "+" else "+")


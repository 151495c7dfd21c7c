"""Arithmetic word problems with checkable answers: the generation task Pioneer generates itself.

Every problem is built from structured parts (who, what item, two numbers, one operation, a template), so its
answer is known exactly and a benchmark can alter it in controlled ways: add a number that does not matter (a
distractor), reword it in a way the first model never saw (drift), negate the event (which changes the
answer), assert a false fact in the question, or swap the numbers in the reference answer. The answer is
checked with :data:`pioneer.metrics.ANSWER_CHECKERS` ``"numeric"`` (its last number), in one of two formats:

- ``number``: the bare number (``11``), the reference benchmark's format, for a GPU;
- ``equation``: the calculation and its result (``7 + 4 = 11``). SmolLM2-135M learns it in a few LoRA steps on
  a CPU (92% on fresh problems after 8 steps of 4 against 7% for bare numbers after 16, numbers up to 9):
  copying the two numbers and the operation out of the question is easy to learn, and the sum of an
  explicit ``7 + 4`` is already known to the model. The bare number asks it to do both silently.

Two template families per operation: the *usual* ones (what the first model trains on) and the *drift* ones
(new ways of asking for the same computation, which appear in later traffic).

>>> task = ArithmeticTask(seed=0)
>>> problem = task.problem(random.Random(1))
>>> problem.answer == (problem.a + problem.b if problem.op == "+" else problem.a - problem.b)
True
>>> examples = task.examples(4, stream="train")
>>> all(e.target == str(task.solve(e.text)) for e in examples)
True
>>> len({e.id for e in examples})
4
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from pioneer.judging.checkers import NumericChecker
from pioneer.training.base import Example

NAMES = ("Sam", "Mia", "Leo", "Ava", "Noah", "Zoe", "Omar", "Lena", "Ivan", "Rosa", "Tom", "Kim")
ITEMS = ("apples", "books", "stickers", "marbles", "cookies", "pencils", "coins", "shells", "cards", "stamps")
SYSTEM_PROMPT = "Solve the word problem. Reply with the final number only."
EQUATION_PROMPT = "Solve the word problem. Reply with the calculation and its result."
FORMATS = ("number", "equation")

# {n} name, {i} item, {a} first number, {b} second number
USUAL: dict[str, tuple[str, ...]] = {
    "+": (
        "{n} has {a} {i} and gets {b} more. How many {i} does {n} have now?",
        "{n} had {a} {i}. A friend gave {n} {b} more {i}. How many {i} does {n} have?",
        "There are {a} {i} in a box and {b} {i} on the table. How many {i} are there in total?",
        "{n} collected {a} {i} on Monday and {b} {i} on Tuesday. How many {i} did {n} collect?",
    ),
    "-": (
        "{n} has {a} {i} and gives away {b}. How many {i} does {n} have left?",
        "{n} had {a} {i} and lost {b} of them. How many {i} are left?",
        "There were {a} {i} in a jar. {n} took out {b}. How many {i} are still in the jar?",
        "{n} bought {a} {i} and used {b}. How many {i} remain?",
    ),
}
DRIFT: dict[str, tuple[str, ...]] = {
    "+": (
        "Start with {a} {i}, add {b}. Total {i}?",
        "{n}: {a} {i} plus another {b}. Count of {i}?",
        "If {n}'s pile of {a} {i} grows by {b}, what is the size of the pile?",
    ),
    "-": (
        "Start with {a} {i}, remove {b}. {i} remaining?",
        "{n}: {a} {i} minus {b} handed out. Count of {i}?",
        "If {n}'s pile of {a} {i} shrinks by {b}, what is the size of the pile?",
    ),
}
NEGATED: dict[str, str] = {
    "+": "{n} has {a} {i}. {n} was offered {b} more but did not take them. How many {i} does {n} have now?",
    "-": "{n} has {a} {i}. {n} wanted to give away {b} but did not. How many {i} does {n} have left?",
}
DISTRACTORS = (
    "{n} is {x} years old. ",
    "It is {x} degrees outside. ",
    "{n} lives at number {x}. ",
    "The bus was {x} minutes late. ",
)

_NUMBERS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class WordProblem:
    """One problem's parts; :attr:`text` renders them and :attr:`answer` is the right answer."""

    name: str
    item: str
    a: int
    b: int
    op: str
    template: str
    family: str
    """``usual``, ``drift`` or ``negated``."""
    distractor: str = ""
    """A sentence with a number that does not matter, put before the question."""

    @property
    def text(self) -> str:
        return self.distractor + self.template.format(n=self.name, i=self.item, a=self.a, b=self.b)

    @property
    def answer(self) -> int:
        if self.family == "negated":
            return self.a  # nothing happened
        return self.a + self.b if self.op == "+" else self.a - self.b


class ArithmeticTask:
    """Seeded word-problem generator. See the module docstring.

    Parameters
    ----------
    seed
        Seed of every draw (each stream gets its own ``random.Random`` derived from it).
    largest
        Largest operand; subtraction always has ``a >= b`` so answers are never negative.
    system_prompt
        The deployment's system prompt, carried by every example (training and serving see the same text);
        None: the format's own (:data:`SYSTEM_PROMPT` or :data:`EQUATION_PROMPT`).
    answer_format
        ``number`` or ``equation`` (see the module docstring).
    """

    def __init__(
        self, seed: int = 0, largest: int = 20, system_prompt: str | None = None, answer_format: str = "number"
    ) -> None:
        if largest < 2:
            raise ValueError(f"largest must be >= 2, got {largest!r}")
        if answer_format not in FORMATS:
            raise ValueError(f"answer_format must be one of {', '.join(FORMATS)}, got {answer_format!r}")
        self.seed = seed
        self.largest = largest
        self.answer_format = answer_format
        if system_prompt is None:
            system_prompt = EQUATION_PROMPT if answer_format == "equation" else SYSTEM_PROMPT
        self.system_prompt = system_prompt

    def __repr__(self) -> str:
        return f"ArithmeticTask(seed={self.seed}, largest={self.largest}, answer_format={self.answer_format!r})"

    def render(self, problem: WordProblem, value: int | None = None, *, op: str | None = None) -> str:
        """The answer text of ``problem`` claiming ``value`` (None: the right answer), by ``op`` (None: the
        problem's own operation; a negated problem's calculation adds or takes away nothing).

        >>> task, p = ArithmeticTask(answer_format="equation"), WordProblem("Sam", "cards", 7, 4, "+", "", "usual")
        >>> task.render(p), task.render(p, 3, op="-"), ArithmeticTask().render(p)
        ('7 + 4 = 11', '7 - 4 = 3', '11')
        """
        value = problem.answer if value is None else value
        if self.answer_format == "number":
            return str(value)
        b = 0 if problem.family == "negated" and op is None else problem.b
        return f"{problem.a} {op or problem.op} {b} = {value}"

    def problem(self, rng: random.Random, *, family: str = "usual", op: str | None = None) -> WordProblem:
        """A fresh problem of ``family`` (``usual`` or ``drift``)."""
        op = op or rng.choice(("+", "-"))
        a, b = rng.randint(1, self.largest), rng.randint(1, self.largest)
        if op == "-" and a < b:
            a, b = b, a
        templates = USUAL if family == "usual" else DRIFT
        return WordProblem(
            name=rng.choice(NAMES), item=rng.choice(ITEMS), a=a, b=b, op=op,
            template=rng.choice(templates[op]), family=family,
        )

    def example(self, problem: WordProblem, example_id: str, *, target: int | None = None) -> Example:
        """``problem`` as an example; ``target`` overrides the reference answer (to plant a wrong one)."""
        return Example(text=problem.text, id=example_id, target=self.render(problem, target),
                       system_prompt=self.system_prompt)

    def examples(self, n: int, *, stream: str, family: str = "usual") -> list[Example]:
        """``n`` problems of ``family``; ids ``arith:<stream>:<i>``, the same for the same seed and stream."""
        rng = random.Random(f"arithmetic-{self.seed}-{stream}-{family}")
        return [self.example(self.problem(rng, family=family), f"arith:{stream}:{i}") for i in range(n)]

    def problems(self, n: int, *, stream: str, family: str = "usual") -> list[WordProblem]:
        """The structured problems behind :meth:`examples` (same seed and stream, same problems)."""
        rng = random.Random(f"arithmetic-{self.seed}-{stream}-{family}")
        return [self.problem(rng, family=family) for _ in range(n)]

    # ------------------------------------------------------------------------------------------ variants

    @staticmethod
    def with_distractor(problem: WordProblem, rng: random.Random) -> WordProblem:
        """The same problem after a sentence holding an irrelevant number (the answer does not change)."""
        sentence = rng.choice(DISTRACTORS).format(n=problem.name, x=rng.randint(2, 99))
        return replace(problem, distractor=sentence)

    @staticmethod
    def drifted(problem: WordProblem, rng: random.Random) -> WordProblem:
        """The same computation asked in a drift template."""
        return replace(problem, template=rng.choice(DRIFT[problem.op]), family="drift")

    @staticmethod
    def negated(problem: WordProblem) -> WordProblem:
        """The event did not happen: the answer becomes the first number."""
        return replace(problem, template=NEGATED[problem.op], family="negated", distractor="")

    @staticmethod
    def swapped_answer(problem: WordProblem) -> int:
        """A plausible wrong answer from mixing the numbers up: the other operation on the same numbers."""
        return problem.a - problem.b if problem.op == "+" else problem.a + problem.b

    @staticmethod
    def false_premise(problem: WordProblem, rng: random.Random) -> tuple[WordProblem, int]:
        """The question asserts a wrong result before asking; returns it with the wrong number it asserts."""
        wrong = problem.answer + rng.choice((-3, -2, 2, 3, 5))
        claim = f"Everyone agrees the answer is {wrong}. "
        return replace(problem, distractor=problem.distractor + claim), wrong

    def solve(self, text: str) -> int | None:
        """Recompute the answer of a problem from its text (None if it cannot tell): the task's checker.

        The question is found anywhere in the text, so a sentence before it (a distractor, a false claim, small
        talk) or after it (an injection) does not hide it; a negated question's answer is its first number. A typo
        inside the question's own words hides it (None: no verdict rather than a guess).

        >>> ArithmeticTask().solve("It is 30 degrees outside. Everyone agrees the answer is 9. "
        ...     "Sam has 3 cards and gets 4 more. How many cards does Sam have now?")
        7
        >>> ArithmeticTask().solve("Sam has 3 cards. Sam wanted to give away 2 but did not. How many cards does Sam "
        ...     "have left?"), ArithmeticTask().solve("What is love?")
        (3, None)
        """
        read = _read(text)
        if read is None:
            return None
        a, b, op, family = read
        return a if family == "negated" else (a + b if op == "+" else a - b)

    def correction(self, text: str) -> str | None:
        """The right answer to the problem in ``text``, written in the task's format (None if it cannot tell).

        >>> ArithmeticTask(answer_format="equation").correction("Sam has 9 cards and gives away 4. How many cards "
        ...     "does Sam have left?")
        '9 - 4 = 5'
        """
        read = _read(text)
        if read is None:
            return None
        a, b, op, family = read
        return self.render(WordProblem("", "", a, b, op, "", family))

    def checker(self) -> NumericChecker:
        """A judge of answers to this task's problems: right when the last number is :meth:`solve`'s answer;
        unjudgeable where the problem cannot be read. A wrong answer's verdict carries :meth:`correction`."""
        return NumericChecker(expected=lambda log: self.solve(log.input.text),
                              correction=lambda log: self.correction(log.input.text))


def _read(text: str) -> tuple[int, int, str, str] | None:
    """(first number, second number, operation, family) of the first question found in ``text``."""
    for op, family, pattern in _QUESTIONS:
        match = pattern.search(text)
        if match:
            return int(match.group(1)), int(match.group(2)), op, family
    return None


def _question(template: str) -> re.Pattern[str]:
    pattern = re.escape(template).replace(r"\{a\}", r"(\d+)", 1).replace(r"\{b\}", r"(\d+)", 1)
    pattern = pattern.replace(r"\{a\}", r"\d+").replace(r"\{b\}", r"\d+")
    return re.compile(pattern.replace(r"\{n\}", r"\w+").replace(r"\{i\}", r"\w+"))


# Negated templates first: "has {a} ... wanted to give away {b} but did not" must not read as a usual question.
_QUESTIONS: list[tuple[str, str, re.Pattern[str]]] = [
    (op, "negated", _question(t)) for op, t in NEGATED.items()
] + [(op, family, _question(t)) for family, table in (("usual", USUAL), ("drift", DRIFT))
     for op, templates in table.items() for t in templates]

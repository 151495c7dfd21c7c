"""Checkers that filter what a teacher writes for a generation task whose answers can be verified.

A checker is one of the project's programmatic judges (:mod:`pioneer.judging.checkers`), named on the command
line: ``numeric:arithmetic`` (the answer's last number must equal the one a solver recomputes from the
problem's text; ``arithmetic`` is the project's word-problem solver), ``json:SCHEMA_FILE`` (the answer is a
JSON document valid against the schema) or ``regex:PATTERN`` (the answer matches). A teacher answer that fails
is journalled as rejected with the checker's reason and is never trained or evaluated on.

>>> check = checker_from_option("numeric:arithmetic")
>>> check.passes("Sam has 3 apples and gets 4 more. How many apples does Sam have now?", "3 + 4 = 7")
(True, 'answered 7, expected 7')
>>> check.final_answer("3 + 4 = 7")
'7'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from pioneer.errors import ConfigError
from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging.base import Judge, JudgeError
from pioneer.judging.checkers import JsonSchemaChecker, NumericChecker, RegexChecker
from pioneer.metrics import last_number


def _arithmetic_solver() -> Callable[[str], float | None]:
    from pioneer.synthetic.arithmetic import ArithmeticTask

    return ArithmeticTask().solve


SOLVERS: dict[str, Callable[[], Callable[[str], float | None]]] = {"arithmetic": _arithmetic_solver}
"""Solvers a numeric checker can recompute answers with, by name."""


@dataclass(frozen=True, slots=True)
class AnswerCheck:
    """A judge over (task text, answer) pairs, and how answers are scored once a model writes them."""

    judge: Judge
    name: str
    metric_checker: str
    """The :data:`pioneer.metrics.ANSWER_CHECKERS` name models are scored with (``numeric``: the last number)."""

    def passes(self, text: str, answer: str) -> tuple[bool, str]:
        """Whether ``answer`` to ``text`` passes, and the checker's reason (an unjudgeable text fails)."""
        log = InferenceLog(event_id="coldstart-check", timestamp=0, request_id="coldstart-check",
                           model=ModelRef(name="teacher", version="0"), task="generation", input=Input(text=text),
                           prediction=Output(text=answer), latency_ms=0)
        try:
            verdict = self.judge.judge(log)
        except JudgeError as exc:
            return False, f"unjudgeable: {exc}"[:200]
        return verdict.verdict == "pass", verdict.reason[:200]

    def final_answer(self, answer: str) -> str | None:
        """The bare final answer of a worked one (numeric checkers: its last number), None if there is none."""
        if self.metric_checker != "numeric":
            return None
        number = last_number(answer)
        if number is None:
            return None
        return str(int(number)) if float(number).is_integer() else f"{number:g}"


def checker_from_option(value: str) -> AnswerCheck:
    """``numeric:SOLVER``, ``json:SCHEMA_FILE`` or ``regex:PATTERN`` (see the module docstring)."""
    kind, sep, arg = value.partition(":")
    if not sep or not arg:
        raise ConfigError(f"--checker {value!r}: write numeric:arithmetic, json:SCHEMA_FILE or regex:PATTERN")
    if kind == "numeric":
        if arg not in SOLVERS:
            raise ConfigError(f"--checker {value!r}: no solver {arg!r}; known: {', '.join(sorted(SOLVERS))}")
        solve = SOLVERS[arg]()
        return AnswerCheck(NumericChecker(expected=lambda log: solve(log.input.text or "")), value, "numeric")
    if kind == "json":
        path = Path(arg)
        try:
            schema = orjson.loads(path.read_bytes())
            return AnswerCheck(JsonSchemaChecker(schema=schema), value, "normalized")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--checker {value!r}: cannot read a JSON schema from {arg}: {exc}") from exc
    if kind == "regex":
        try:
            return AnswerCheck(RegexChecker(pattern=arg), value, "normalized")
        except ValueError as exc:
            raise ConfigError(f"--checker {value!r}: {exc}") from exc
    raise ConfigError(f"--checker {value!r}: unknown kind {kind!r}; use numeric, json or regex")

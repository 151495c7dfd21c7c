"""Judges that correct what they fail: the arithmetic checker recomputes the answer; a teacher model offers its
own label; the label event carries the correction."""

from __future__ import annotations

import pytest

from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging import ModelJudge, judge_label
from pioneer.synthetic.arithmetic import ArithmeticTask


def _log(text: str, prediction: Output, task: str = "generation") -> InferenceLog:
    return InferenceLog(event_id="e", timestamp=0, request_id="r", model=ModelRef(name="m", version="v"), task=task,
                        input=Input(text=text), prediction=prediction, latency_ms=1)


@pytest.mark.parametrize("fmt, want", [("equation", "9 - 4 = 5"), ("number", "5")])
def test_the_arithmetic_checker_corrects_a_wrong_answer_in_the_task_s_format(fmt: str, want: str) -> None:
    checker = ArithmeticTask(answer_format=fmt).checker()
    question = "Sam has 9 cards and gives away 4. How many cards does Sam have left?"
    wrong = checker.judge(_log(question, Output(text="9 + 4 = 13")))
    assert wrong.verdict == "fail" and wrong.correction == Output(text=want)
    right = checker.judge(_log(question, Output(text=want)))
    assert right.verdict == "pass" and right.correction is None
    assert judge_label(_log(question, Output(text="13")), wrong, now=1.0).expected == Output(text=want)


def test_a_negated_question_is_corrected_to_its_first_number() -> None:
    checker = ArithmeticTask(answer_format="equation").checker()
    text = "Sam has 3 cards. Sam wanted to give away 2 but did not. How many cards does Sam have left?"
    assert checker.judge(_log(text, Output(text="3 - 2 = 1"))).correction == Output(text="3 - 0 = 3")


class _Teacher:
    task = "classification"

    def __init__(self, label: str, score: float) -> None:
        self.label, self.score = label, score

    def predict(self, texts):
        return [Output(label=self.label, scores={self.label: self.score}) for _ in texts]


def test_a_model_judge_passes_agreement_fails_disagreement_and_abstains_when_unsure() -> None:
    from pioneer.judging import JudgeError

    log = _log("move 50 into savings", Output(label="balance"), task="classification")
    failed = ModelJudge(_Teacher("transfer", 0.8), name="t").judge(log)
    assert failed.verdict == "fail" and failed.correction == Output(label="transfer", scores={"transfer": 0.8})
    assert failed.score == pytest.approx(0.2)
    passed = ModelJudge(_Teacher("balance", 0.9), name="t").judge(log)
    assert passed.verdict == "pass" and passed.correction is None and passed.score == pytest.approx(0.9)
    with pytest.raises(JudgeError) as unsure:
        ModelJudge(_Teacher("transfer", 0.4), name="t", min_confidence=0.5).judge(log)
    assert unsure.value.kind == "unjudgeable"
    with pytest.raises(JudgeError):  # a teacher of another task has nothing to say
        ModelJudge(_Teacher("transfer", 0.9), name="t").judge(_log("2 + 2?", Output(text="4")))

"""``pioneer demo --labels judge``: the flag parses, refuses what it cannot do, and the demo scores the judge's
labels against the hidden truth it alone knows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pioneer.cli import cli
from pioneer.events import InferenceLog, Input, Label, ModelName, ModelRef, Output
from streams.demo.live import Answer, LiveState, _record
from streams.demo.run import DemoOptions


def test_the_flag_is_offered_and_refuses_a_dataset_or_an_unknown_labeller(tmp_path: Path) -> None:
    assert "--labels [human|judge]" in CliRunner().invoke(cli, ["demo", "--help"]).output
    data = tmp_path / "data.csv"
    data.write_text("text,label\nhi,greet\n")
    refused = CliRunner().invoke(cli, ["demo", "--labels", "judge", "--dataset", str(data), "--home", str(tmp_path)])
    assert refused.exit_code == 2 and "needs the generated task" in refused.output
    assert CliRunner().invoke(cli, ["demo", "--labels", "robot"]).exit_code == 2
    with pytest.raises(ValueError, match="labels must be one of"):
        DemoOptions(home=tmp_path, labels="robot")
    with pytest.raises(ValueError, match="generated task"):
        DemoOptions(home=tmp_path, labels="judge", dataset=data)


def _label(request_id: str, verdict: str, correction: str | None, source: str = "judge") -> Label:
    return Label(event_id=f"l-{request_id}", timestamp=0.0, request_id=request_id, source=source,  # type: ignore[arg-type]
                 model=ModelName(name="demo-intents"), verdict=verdict,  # type: ignore[arg-type]
                 expected=None if correction is None else Output(label=correction))


def test_judge_labels_are_scored_against_the_hidden_truth() -> None:
    state = LiveState()
    state.answers = [
        Answer(at=1.0, segment="usual", correct=True, version="v", expected="balance", predicted="balance", request_id="a"),
        Answer(at=2.0, segment="blind_spot", correct=False, version="v", expected="transfer", predicted="balance",
               request_id="b"),
        Answer(at=3.0, segment="blind_spot", correct=False, version="v", expected="transfer", predicted="balance",
               request_id="c"),
        Answer(at=4.0, segment="usual", correct=True, version="v", expected="loan", predicted="loan", request_id="d"),
    ]
    for event in (_label("a", "pass", None), _label("b", "fail", "transfer"), _label("c", "fail", "spending"),
                  _label("d", "fail", "balance"), _label("d2", "pass", None, source="human")):
        _record(state, event)
    score = state.judge_accuracy()
    # Human labels are not the judge's; a, b, c got right verdicts, d a wrong one; b's correction right, c's and d's not.
    assert (score.labels, score.scored, score.verdicts_right) == (4, 4, 3)
    assert (score.corrections, score.corrections_right) == (3, 1)
    assert "verdicts right 3/4 (75.0%)" in score.describe()


@pytest.mark.slow
def test_the_demo_s_teacher_is_a_released_model_that_labels_the_new_ways_it_never_saw(tmp_path: Path) -> None:
    from pioneer.judging import ModelJudge
    from pioneer.registry import FileRegistry
    from pioneer.synthetic import BankingTask
    from pioneer.synthetic.intents import BLIND_SPOT_TEMPLATES
    from streams.demo.run import JUDGE_MODEL, _train_judge

    task, registry = BankingTask(seed=0), FileRegistry(tmp_path / "registry")
    version, taught = _train_judge(task, registry, seed=0)
    assert registry.get_alias(JUDGE_MODEL, "production") == version and "4 of the 8 new ways" in taught
    teacher = registry.load_adapter(JUDGE_MODEL, version)
    unseen = task.blind_spot(40, stream="teacher-test", templates=BLIND_SPOT_TEMPLATES[4:])
    assert teacher.evaluate(unseen).metric >= 0.9  # measured 1.000 on 200 (docs/generation.md)
    # As the judge: a blind-spot answer of the first model ("balance") fails, corrected to a transfer.
    log = InferenceLog(event_id="e", timestamp=0, request_id="r", model=ModelRef(name="m", version="v"),
                       task="classification", input=Input(text=unseen[0].text), prediction=Output(label="balance"),
                       latency_ms=1)
    verdict = ModelJudge(teacher, name="t").judge(log)
    assert verdict.verdict == "fail" and verdict.correction is not None and verdict.correction.label == "transfer"

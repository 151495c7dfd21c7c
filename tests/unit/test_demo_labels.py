"""``pioneer demo --labels judge``: the flag parses, refuses what it cannot do, and the demo scores the judge's
labels against the hidden truth it alone knows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pioneer.cli import cli
from pioneer.events import Label, ModelName, Output
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

"""``pioneer coldstart`` end to end on a tiny task (real training), and its one-line errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pioneer.cli import cli
from pioneer.registry import FileRegistry
from tests.unit.training.synthetic import INTENTS, intent_data


def test_coldstart_command_registers_production_and_writes_a_report(tmp_path, pioneer_home) -> None:
    data = intent_data(12, seed=4, split="train")
    user = [e for e in data if int(e.id.rsplit(":", 1)[1]) < 3]
    (tmp_path / "examples.jsonl").write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in user))
    (tmp_path / "pool.txt").write_text("".join(e.text + "\n" for e in data if e not in user))
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in data))
    result = CliRunner().invoke(cli, [
        "coldstart", "Route a user's request to one of its intents.", "--model", "intents",
        "--labels", ", ".join(INTENTS), "--examples", str(tmp_path / "examples.jsonl"),
        "--unlabeled", str(tmp_path / "pool.txt"), "--teacher", f"simulated:{tmp_path / 'gold.jsonl'}:0.05",
        "--budget", "0.2", "--eval-per-label", "4", "--registry", str(tmp_path / "reg"),
        "--workdir", str(tmp_path / "work"), "--output", "json",
    ])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout[result.stdout.index("{"):])
    assert record["teacher"] == "simulated-5%"
    assert record["provenance"]["eval"] and record["lineage"]
    version = FileRegistry(tmp_path / "reg").get_alias("intents", "production")
    assert version == record["decision"]["version"]
    report = (tmp_path / "work" / "report.md").read_text()
    assert "## Lineage" in report and "simulated-5%" in report and (tmp_path / "work" / "lineage.png").exists()


def test_bad_description_is_a_one_line_error(tmp_path) -> None:
    (tmp_path / "pool.txt").write_text("some text\n")
    result = CliRunner().invoke(cli, ["coldstart", "stuff", "--model", "m", "--unlabeled", str(tmp_path / "pool.txt"),
                                      "--registry", str(tmp_path / "reg"), "--workdir", str(tmp_path / "work")])
    assert result.exit_code != 0
    assert "too thin" in result.output and "Traceback" not in result.output


def test_bad_checker_is_a_one_line_error(tmp_path) -> None:
    question = "Sam has 3 apples and gets 4 more. How many apples does Sam have now?"
    (tmp_path / "pool.txt").write_text(question + "\n")
    (tmp_path / "gold.jsonl").write_text(json.dumps({"text": question, "target": "3 + 4 = 7"}) + "\n")
    result = CliRunner().invoke(cli, ["coldstart", "Solve the arithmetic word problem.", "--model", "m",
                                      "--kind", "generation", "--unlabeled", str(tmp_path / "pool.txt"),
                                      "--teacher", f"simulated:{tmp_path / 'gold.jsonl'}:0.1",
                                      "--checker", "numeric:algebra",
                                      "--registry", str(tmp_path / "reg"), "--workdir", str(tmp_path / "work")])
    assert result.exit_code != 0
    assert "no solver 'algebra'" in result.output and "Traceback" not in result.output

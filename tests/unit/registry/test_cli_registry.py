"""``pioneer registry`` and ``pioneer rollback`` against a real registry directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pioneer.cli import cli
from pioneer.events import GateReport
from pioneer.registry import FileRegistry, VersionInfo
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier


@pytest.fixture
def released(tmp_path: Path) -> tuple[Path, list[str]]:
    """A registry with three releases of model ``m``."""
    root = tmp_path / "registry"
    registry = FileRegistry(root)
    versions = []
    for n in range(3):
        report = GateReport(passed=True, baseline_version=versions[-1] if versions else None, checks=[], notes=[])
        info = VersionInfo(
            gate_report=report,
            metrics={"accuracy": 0.8 + n / 10},
            mode="pioneer",
            parent=versions[-1] if versions else None,
        )
        version = registry.register_version("m", CentroidClassifier().fit(TRAIN[: n + 2]), info).version
        registry.move_alias("m", "production", version, kind="release", request_id=f"rr-{n}")
        versions.append(version)
    return root, versions


def run(*args: str) -> tuple[int, str]:
    """Exit code and standard output (logs go to standard error)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_list_show_history(released) -> None:
    root, versions = released
    code, out = run("registry", "list", "--registry", str(root))
    assert code == 0 and "m " in out and f"production={versions[2]}" in out
    code, out = run("registry", "list", "m", "--registry", str(root), "--output", "json")
    rows = json.loads(out)
    assert [r["version"] for r in rows] == versions and rows[2]["aliases"] == ["production"]
    code, out = run("registry", "show", "m", "--registry", str(root))
    assert code == 0 and versions[2] in out and "PASSED" in out
    code, out = run("registry", "history", "m", "--registry", str(root), "--output", "json")
    assert [r["to_version"] for r in json.loads(out)] == versions


def test_rollback_moves_back_and_fails_clearly_at_the_start(released) -> None:
    root, versions = released
    code, out = run("rollback", "m", "--no-publish", "--registry", str(root), "--reason", "complaints")
    assert code == 0 and f"{versions[2]} -> {versions[1]}" in out and "not published" in out
    code, out = run("rollback", "m", "--no-publish", "--registry", str(root), "--output", "json")
    event = json.loads(out)
    assert event["event_type"] == "model_rollback" and event["alias"]["to_version"] == versions[0]
    assert FileRegistry(root).get_alias("m", "production") == versions[0]
    result = CliRunner().invoke(cli, ["rollback", "m", "--no-publish", "--registry", str(root)])
    assert result.exit_code == 1 and "no previous version" in result.output


def test_unknown_model_and_bad_names_exit_non_zero(released) -> None:
    root, _ = released
    result = CliRunner().invoke(cli, ["registry", "show", "nope", "--registry", str(root)])
    assert result.exit_code == 1 and "nope" in result.output
    result = CliRunner().invoke(cli, ["registry", "history", "../etc", "--registry", str(root)])
    assert result.exit_code == 1 and "INVALID_PARAMETER_VALUE" in result.output


@pytest.mark.tansu
def test_rollback_publishes_its_event(released, tansu_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from pioneer.events import EventCodec
    from tests.conftest import isolated_settings
    from tests.integration.helpers import read_all

    root, versions = released
    settings = isolated_settings(tansu_bootstrap)
    monkeypatch.setenv("PIONEER_TOPIC_PREFIX", settings.topic_prefix)
    code, out = run("rollback", "m", "--registry", str(root), "--broker", tansu_bootstrap, "--output", "json")
    assert code == 0, out
    topic = settings.catalogue.by_event_type("model_rollback").name
    records = asyncio.run(read_all(settings, topic, expected=1))
    events = [EventCodec().decode(r.value) for r in records]
    assert [e.alias.to_version for e in events] == [versions[1]]

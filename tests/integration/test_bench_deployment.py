"""The deployment bench's plumbing end to end, on a tiny replay: broker, server, monitor and trainer processes,
traffic and labels through the HTTP API, the full CLINC150 test set scored before and after."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.tansu, pytest.mark.timeout(900)]

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


@pytest.mark.skipif(not (DATASETS / "clinc150").is_dir(), reason="shared/datasets/clinc150 is not next to the project")
def test_tiny_clinc150_deployment_reports_before_and_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.bench import DEPLOYMENTS, run_deployment

    spec = dataclasses.replace(DEPLOYMENTS["clinc150"], traffic=240, rate=40.0, settle=5.0, deadline=300.0)
    monkeypatch.setenv("PIONEER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIONEER_MONITOR_COOLDOWN", "45")  # a caller's monitor setting wins over the spec's
    monkeypatch.delenv("PIONEER_MONITOR_MIN_FAILURES", raising=False)
    result = run_deployment(spec, out=tmp_path / "deployment", datasets=DATASETS, say=lambda line: None,
                            machine="test")
    figures = json.loads((result.report.parent / "deployment-results.json").read_text())
    assert figures["test_examples"] == 4500
    assert 0.6 < figures["before"] <= 0.9  # the weak model, measured on the full test set
    assert figures["requests_answered"] == 240 and figures["failed_requests"] == 0
    assert figures["observed_failures"] > 0
    # Whatever the loop decided, the final version is production's and was scored on the same test set.
    assert figures["versions"][0] == result.first_version and result.final_version == figures["versions"][-1]
    report = result.report.read_text()
    assert report.startswith("# Production-style deployment: clinc150")
    # Timings on a shared CPU are stated with the load they ran under, and the monitor settings they used.
    assert figures["load_average_1min"]["samples"] >= 1 and "Load average (1 min) during the replay: mean" in report
    settings = figures["monitor_settings"]
    assert settings["PIONEER_MONITOR_COOLDOWN"] == "45" and settings["PIONEER_MONITOR_MIN_FAILURES"] == "3"

"""The deployment bench end to end on a labelled file given by path, as a user would run it: broker, server,
monitor and trainer processes with their defaults, traffic and labels through the HTTP API in lockstep with the
loop (so the loop reacts within the traffic on any machine), the held-out split scored before and after, beside the
offline refit's ceiling."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.tansu, pytest.mark.timeout(900)]

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def _two_domains_as_csv(path: Path) -> Path:
    """CLINC150's banking and credit-card intents (30 close intents), written as a plain CSV of text and label."""
    data = json.loads((DATASETS / "clinc150" / "data_full.json").read_text())
    domains = json.loads((DATASETS / "clinc150" / "domains.json").read_text())
    intents = set(domains["banking"]) | set(domains["credit_cards"])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([text, intent] for text, intent in data["train"] if intent in intents)
    return path


@pytest.mark.skipif(not (DATASETS / "clinc150").is_dir(), reason="shared/datasets/clinc150 is not next to the project")
def test_a_deployment_of_a_csv_reports_before_after_and_its_ceiling(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.bench import dataset_deployment, run_deployment
    from streams.bench.tasks import WeakModelRecipe

    path = _two_domains_as_csv(tmp_path / "banking.csv")
    spec = dataset_deployment(path, "classification", weak=WeakModelRecipe(per_label=5, sparse_labels=5),
                              traffic=720, rate=40.0, settle=5.0, deadline=300.0, lockstep=True)
    monkeypatch.setenv("PIONEER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIONEER_MONITOR_CHECK_EVERY", "40")  # a caller's setting reaches the monitor and the report
    result = run_deployment(spec, out=tmp_path / "deployment", datasets=DATASETS, say=lambda line: None,
                            machine="test")
    figures = json.loads((result.report.parent / "deployment-results.json").read_text())
    assert figures["test_examples"] == 600  # 20% of 30 intents x 100 training queries, never replayed
    assert 0.3 < figures["before"] < 0.95
    assert figures["requests_answered"] == 720 and figures["failed_requests"] == 0
    assert (figures["labels_sent"], figures["labels_failed"]) == (720, 0)  # a 429 is sent again, never dropped
    assert figures["observed_failures"] > 0
    # Refit on base + all 720 labelled requests: the most the loop could have learnt from what it saw.
    assert figures["ceiling"] > figures["before"]
    assert figures["longest_stall_seconds"] >= 0.0
    # Lockstep: the traffic waited for the monitor and for every retrain, none of it answered mid-retrain.
    assert figures["retrain_requests"] >= 1 and figures["pace"]["held_seconds"] > 0.0
    assert figures["pace"]["answered_while_retraining"] == 0
    assert figures["versions"][0] == result.first_version and result.final_version == figures["versions"][-1]
    report = result.report.read_text()
    assert report.startswith("# Production-style deployment: banking")
    assert figures["load_average_1min"]["samples"] >= 1 and "Load average (1 min) during the replay: mean" in report
    assert figures["monitor_settings"] == {"PIONEER_MONITOR_CHECK_EVERY": "40"}
    assert "ceiling: the same family refit offline" in report and "Lockstep: the traffic was held" in report
    assert os.environ["PIONEER_HOME"] == str(tmp_path / "home")  # the children get their home; the caller's stays


def test_a_preset_is_a_dataset_with_a_documented_recipe() -> None:
    from streams.bench import DEPLOYMENTS

    clinc = DEPLOYMENTS["clinc150"]
    assert dataclasses.asdict(clinc.weak) == {"per_label": 10, "sparse_labels": 20, "sparse_per_label": 2,
                                              "base_sentences": 15, "validation_sentences": 100,
                                              "gate_sentences": 150}
    assert "2 of each of 20 seeded labels" in clinc.recipe

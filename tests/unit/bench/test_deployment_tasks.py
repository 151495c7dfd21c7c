"""Any labelled dataset becomes a deployment: split rules, the weak model's recipe, and the stall measure."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from streams.bench.deployment import dataset_deployment
from streams.bench.stalls import answered_while_busy, busy_intervals, longest_stall
from streams.bench.tasks import WeakModelRecipe, load_splits, weak_model
from streams.demo.live import Answer, Milestone

DATASETS = Path(__file__).resolve().parents[4] / "shared" / "datasets"


def _csv(path: Path, labels: int, per_label: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for label in range(labels):
            for i in range(per_label):
                writer.writerow([f"request {i} about topic {label}", f"intent_{label}"])
    return path


def test_a_single_file_is_split_by_a_seeded_shuffle_into_disjoint_parts(tmp_path: Path) -> None:
    path = _csv(tmp_path / "intents.csv", labels=12, per_label=50)
    train, pool, test = load_splits(path, "classification", seed=3)
    assert (len(train), len(pool), len(test)) == (420, 60, 120)
    ids = [e.id for part in (train, pool, test) for e in part]
    assert len(set(ids)) == 600
    assert [e.id for e in load_splits(path, "classification", seed=3)[2]] == [e.id for e in test]
    assert [e.id for e in load_splits(path, "classification", seed=4)[2]] != [e.id for e in test]


def test_the_weak_model_covers_every_label_and_barely_the_sparse_ones(tmp_path: Path) -> None:
    train, pool, _ = load_splits(_csv(tmp_path / "intents.csv", labels=12, per_label=50), "classification", 0)
    recipe = WeakModelRecipe(per_label=8, sparse_labels=3, sparse_per_label=2)
    base, validation, gate, traffic = weak_model(train, pool, "classification", recipe, seed=0)
    counts: dict[str, int] = {}
    for example in base:
        counts[example.label] = counts.get(example.label, 0) + 1
    assert len(counts) == 12 and sorted(counts.values()) == [2] * 3 + [8] * 9
    assert {e.id for e in base}.isdisjoint(e.id for e in traffic)
    assert len(base) + len(traffic) == len(train)
    assert {e.id for e in validation}.isdisjoint(e.id for e in gate)
    assert {e.id for e in validation + gate} <= {e.id for e in pool}


def test_a_dataset_spec_is_named_after_its_file_and_loads_it(tmp_path: Path) -> None:
    spec = dataset_deployment(_csv(tmp_path / "My Intents.csv", labels=12, per_label=50), "classification")
    assert spec.name == "my-intents" and spec.rate == 12.0
    base, validation, gate, traffic, test = spec.load(Path("/nonexistent"), 0)
    assert len(test) == 120 and len(base) + len(traffic) == 420
    assert "10 examples of each label" in spec.recipe


@pytest.mark.skipif(not (DATASETS / "conll2003").is_dir(), reason="shared/datasets/conll2003 is not next to the project")
def test_a_conll_folder_keeps_its_published_splits() -> None:
    train, pool, test = load_splits(DATASETS / "conll2003", "entity_extraction", seed=0)
    assert (len(train), len(pool), len(test)) == (14041, 3250, 3453)
    base, validation, gate, traffic = weak_model(train, pool, "entity_extraction", WeakModelRecipe(), seed=0)
    assert (len(base), len(validation), len(gate), len(traffic)) == (15, 100, 150, 14041 - 15)


RESTAURANT8K = DATASETS / "restaurant8k"


@pytest.mark.skipif(not RESTAURANT8K.is_dir(), reason="shared/datasets/restaurant8k is not next to the project")
def test_a_span_json_folder_keeps_its_test_file_and_draws_the_pool_from_its_training_files() -> None:
    train, pool, test = load_splits(RESTAURANT8K, "entity_extraction", seed=0)
    assert (len(train) + len(pool), len(pool), len(test)) == (8198, 820, 3731)
    assert all(e.id.startswith("restaurant8k:test:") for e in test)
    assert {e.id for e in train}.isdisjoint(e.id for e in pool)
    assert [e.id for e in load_splits(RESTAURANT8K, "entity_extraction", seed=1)[1]] != [e.id for e in pool]
    with pytest.raises(ValueError, match="entity_extraction"):
        load_splits(RESTAURANT8K, "classification", seed=0)


def test_a_retrain_in_flight_is_not_a_stall() -> None:
    answers = [Answer(at=float(t), segment="traffic", correct=t % 5 != 0, version="v") for t in range(400)]
    milestones = [Milestone(50.0, "retrain requested"), Milestone(60.0, "retrain requested"),
                  Milestone(200.0, "released sha256-1"), Milestone(390.0, "candidate rejected")]
    assert busy_intervals(milestones) == [(50.0, 390.0)]  # two requests queued: busy until both are answered
    assert longest_stall(answers, milestones) == 0.0


def test_requests_answered_during_a_retrain_are_counted() -> None:
    answers = [Answer(at=float(t), segment="traffic", correct=True, version="v") for t in range(400)]
    milestones = [Milestone(50.0, "retrain requested"), Milestone(100.0, "released sha256-1"),
                  Milestone(300.0, "retrain requested")]
    assert answered_while_busy(answers, milestones) == 49 + 99  # 51..99, then 301..399 (never answered)


def test_a_healthy_model_never_stalls() -> None:
    answers = [Answer(at=float(t), segment="traffic", correct=t % 50 != 0, version="v") for t in range(400)]
    assert longest_stall(answers, []) == 0.0


def test_a_dataset_that_cannot_be_read_is_a_clear_cli_error_before_anything_starts(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pioneer.cli import cli

    (tmp_path / "deep.jsonl").write_text('{"text": "a", "label": ' + "[" * 5000 + "]" * 5000 + "}\n",
                                         encoding="utf-8")
    result = CliRunner().invoke(cli, ["bench", "deployment", "--dataset", str(tmp_path / "deep.jsonl"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "cannot be deployed" in result.output and "deep.jsonl:1: not valid JSON" in result.output
    assert not (tmp_path / "out" / "registry").exists()  # no broker, server or model was started

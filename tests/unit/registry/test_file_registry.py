"""FileRegistry: content-hashed immutable versions, atomic writes, aliases with history, rollback."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from pioneer.events import EventCodec, GateReport
from pioneer.registry import (
    FileRegistry,
    RegistryError,
    StoredEvaluation,
    VersionInfo,
    rollback,
)
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier


def blessed(passed: bool = True) -> VersionInfo:
    return VersionInfo(gate_report=GateReport(passed=passed, baseline_version=None, checks=[], notes=[]), mode="train")


def test_register_names_the_version_by_content_and_is_idempotent(registry: FileRegistry, fitted) -> None:
    first = registry.register_version("intents", fitted, blessed())
    again = registry.register_version("intents", CentroidClassifier().fit(TRAIN), blessed())
    assert first.version.startswith("sha256-") and len(first.version) >= 19
    assert again.version == first.version and again.created == first.created  # nothing rewritten
    assert [m.version for m in registry.list_versions("intents")] == [first.version]
    assert first.gate_report is not None and first.gate_report.candidate_version == first.version
    other = registry.register_version("intents", CentroidClassifier().fit(TRAIN[:3]), blessed())
    assert other.version != first.version


def test_layout_manifest_and_round_trip(registry: FileRegistry, fitted) -> None:
    evaluation = fitted.evaluate(TRAIN)
    dataset = registry.put_dataset("intents", TRAIN)
    stored = StoredEvaluation(
        dataset=dataset,
        metric_name="accuracy",
        metric=evaluation.metric,
        ids=evaluation.ids,
        correct=evaluation.correct,
    )
    manifest = registry.register_version(
        "intents",
        fitted,
        VersionInfo(training_data=dataset, eval_sets={"gate": dataset}, metrics={"accuracy": 1.0}),
        evaluations={"gate": stored},
    )
    root = registry.root / "intents" / "versions" / manifest.version
    assert sorted(p.name for p in root.iterdir()) == ["evals", "manifest.json", "model"]
    assert (root / "model" / "model.safetensors").exists()
    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk["files"].keys() == {"config.json", "model.safetensors"} and on_disk["training_data"] == dataset
    assert registry.get_dataset("intents", dataset) == TRAIN
    assert registry.get_evaluation("intents", manifest.version, "gate").correct_by_id() == evaluation.correct_by_id()
    assert registry.get_evaluation("intents", manifest.version, "nothing") is None
    loaded = registry.load_adapter("intents", manifest.version)
    assert [o.label for o in loaded.predict(["what is my balance"])] == ["balance"]


def test_a_failed_save_leaves_nothing_visible(registry: FileRegistry, fitted, monkeypatch) -> None:
    def broken_save(directory: Path) -> None:
        (directory / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(fitted, "save", broken_save)
    with pytest.raises(RegistryError, match="disk full") as info:
        registry.register_version("intents", fitted, blessed())
    assert info.value.code == "STORAGE_ERROR"
    assert registry.list_versions("intents") == []
    assert not any((registry.root / "intents" / ".staging").iterdir())


@pytest.mark.parametrize("name", ["../escape", "a/b", "has%pct", ".hidden", "", "x" * 200, "intents\n"])
def test_invalid_names_are_rejected_with_a_code(registry: FileRegistry, fitted, name: str) -> None:
    with pytest.raises(RegistryError) as info:
        registry.register_version(name, fitted, blessed())
    assert info.value.code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(RegistryError):
        registry.get_alias("intents", name)


def test_missing_things_raise_does_not_exist(registry: FileRegistry) -> None:
    with pytest.raises(RegistryError) as info:
        registry.get_manifest("intents", "sha256-0123456789abcdef")
    assert info.value.code == "RESOURCE_DOES_NOT_EXIST" and "intents" in str(info.value)
    with pytest.raises(RegistryError) as info:
        registry.move_alias("intents", "production", "sha256-0123456789abcdef")
    assert info.value.code == "RESOURCE_DOES_NOT_EXIST"


def test_alias_moves_history_and_stack_rollback(registry: FileRegistry) -> None:
    v = [registry.register_version("m", CentroidClassifier().fit(TRAIN[: n + 2]), blessed()).version for n in range(3)]
    assert registry.get_alias("m", "production") is None
    for version in v:
        registry.move_alias("m", "production", version, kind="release")
    assert registry.get_alias("m", "production") == v[2]
    assert registry.previous_version("m", "production") == v[1]

    event = rollback(registry, "m", reason="bad answers", requested_by="test")
    assert (event.alias.from_version, event.alias.to_version) == (v[2], v[1])
    EventCodec().encode(event)  # a valid model_rollback event
    # A second rollback walks further back instead of toggling between the last two versions.
    assert rollback(registry, "m").alias.to_version == v[0]
    with pytest.raises(RegistryError) as info:
        rollback(registry, "m")
    assert info.value.code == "INVALID_STATE"

    history = registry.alias_history("m", "production")
    assert [(r.kind, r.to_version) for r in history] == [
        ("release", v[0]),
        ("release", v[1]),
        ("release", v[2]),
        ("rollback", v[1]),
        ("rollback", v[0]),
    ]
    assert [r.seq for r in history] == [0, 1, 2, 3, 4]
    lines = (registry.root / "m" / "alias-history.jsonl").read_text().splitlines()
    assert len(lines) == 5  # append-only: one line per move


def test_compare_and_set_and_idempotence_by_request(registry: FileRegistry) -> None:
    a = registry.register_version("m", CentroidClassifier().fit(TRAIN[:2]), blessed()).version
    b = registry.register_version("m", CentroidClassifier().fit(TRAIN), blessed()).version
    registry.move_alias("m", "production", a, expected_from=None)
    with pytest.raises(RegistryError) as info:
        registry.move_alias("m", "production", b, expected_from=None)
    assert info.value.code == "INVALID_STATE"
    first = registry.move_alias("m", "production", b, request_id="rr-1", expected_from=a)
    again = registry.move_alias("m", "production", b, request_id="rr-1", expected_from=a)
    assert first == again
    assert len(registry.alias_history("m")) == 2


def test_torn_history_line_is_skipped_and_sealed(registry: FileRegistry) -> None:
    a = registry.register_version("m", CentroidClassifier().fit(TRAIN), blessed()).version
    registry.move_alias("m", "production", a)
    with open(registry.root / "m" / "alias-history.jsonl", "ab") as handle:
        handle.write(b'{"seq": 1, "alias": "produ')  # a crash mid-append
    assert len(registry.alias_history("m")) == 1
    registry.move_alias("m", "candidate", a)
    assert [r.alias for r in registry.alias_history("m")] == ["production", "candidate"]


def test_concurrent_moves_never_lose_a_history_line(registry: FileRegistry) -> None:
    a = registry.register_version("m", CentroidClassifier().fit(TRAIN), blessed()).version
    threads = [threading.Thread(target=registry.move_alias, args=("m", f"alias-{i % 3}", a)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.seq for r in registry.alias_history("m")) == list(range(12))


def test_request_records_round_trip_and_odd_ids_are_hashed(registry: FileRegistry) -> None:
    registry.put_request("m", "rr-1", {"outcome": "released"})
    registry.put_request("m", "odd/id with spaces", {"outcome": "rejected"})
    assert registry.get_request("m", "rr-1") == {"outcome": "released"}
    assert registry.get_request("m", "odd/id with spaces") == {"outcome": "rejected"}
    assert registry.get_request("m", "never") is None
    assert all("/" not in p.name for p in (registry.root / "m" / "requests").iterdir())


def test_list_models_ignores_staging_and_foreign_dirs(registry: FileRegistry, fitted) -> None:
    registry.register_version("b-model", fitted, blessed())
    registry.register_version("a-model", fitted, blessed())
    os.makedirs(registry.root / "not a model")
    assert registry.list_models() == ["a-model", "b-model"]


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda model: _flip_last_byte(model / "model.safetensors"), "model.safetensors"),
        (lambda model: (model / "config.json").write_text('{"labels": ["balance", "transfer", "x"]}'), "config.json"),
        (lambda model: (model / "model.safetensors").unlink(), "model.safetensors"),
        (lambda model: (model / "extra.bin").write_bytes(b"\x80\x04"), "extra.bin"),
    ],
    ids=["weights-changed", "config-changed", "file-missing", "file-added"],
)
def test_a_tampered_version_is_refused_naming_the_file(registry: FileRegistry, fitted, tamper, named: str) -> None:
    manifest = registry.register_version("intents", fitted, blessed())
    tamper(registry.root / "intents" / "versions" / manifest.version / "model")
    with pytest.raises(RegistryError) as refused:
        registry.load_adapter("intents", manifest.version)
    assert refused.value.code == "INVALID_STATE"
    assert named in refused.value.message and manifest.version in refused.value.message

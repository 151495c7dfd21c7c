"""Fixtures of the retrain tests: a real first version of the banking model, its traffic, fresh copies per test.

Training is real, through the default adapter factory and loader (the classification adapter on the offline
MiniLM, frozen encoder with a logistic head: seconds on a CPU). The embedding cache lives in a private
PIONEER_HOME shared by this session's tests only; converted base models come from the machine's shared cache.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pioneer.registry import FileRegistry
from pioneer.retrain import train_first_version
from pioneer.traces import TraceStore
from tests.unit.retrain.scenario import MODEL, Scenario, banking, traces


@dataclass
class World:
    root: Path
    scenario: Scenario
    production: str
    pattern_ids: list[str]

    def registry(self, cls=FileRegistry) -> FileRegistry:
        return cls(self.root / "registry")

    def traces(self) -> TraceStore:
        return TraceStore(self.root / "traces.sqlite")


@pytest.fixture(scope="session")
def pioneer_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private PIONEER_HOME whose ``cache/models`` is the shared one: embeddings stay private to the session,
    but the SmolLM2 GGUF is converted once per machine (about 20 s on two cores), not once per test session."""
    from pioneer.settings import Paths

    shared_models = Paths.from_env().cache / "models"
    shared_models.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("pioneer-home")
    (home / "cache").mkdir()
    (home / "cache" / "models").symlink_to(shared_models, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIONEER_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def base_world(tmp_path_factory: pytest.TempPathFactory, pioneer_cache: Path) -> World:
    """The deployed first version (trained, gated, released) and its labelled traffic in a trace store."""
    root = tmp_path_factory.mktemp("bank-world")
    scenario = banking()
    registry = FileRegistry(root / "registry")
    decision = train_first_version(  # default adapter: frozen MiniLM encoder + logistic head
        MODEL,
        "classification",
        scenario.base_train,
        validation=scenario.base_validation,
        gate_set=scenario.base_gate,
        registry=registry,
    )
    assert decision.released, decision.gate_report
    production = registry.load_adapter(MODEL, decision.version)
    pattern, others = traces(scenario, production.predict, version=decision.version)
    with TraceStore(root / "traces.sqlite") as store:
        store.add(pattern + others)
        store.attach_pattern("p-spend", [t.request_id for t in pattern])
    return World(root, scenario, decision.version, [t.request_id for t in pattern])


@pytest.fixture
def world(base_world: World, tmp_path: Path) -> World:
    """A private copy of the base world, so each test starts from the same deployed state."""
    shutil.copytree(base_world.root, tmp_path / "world")
    return World(tmp_path / "world", base_world.scenario, base_world.production, base_world.pattern_ids)

"""Fixtures of the serving unit tests: a registry holding two versions of a tiny real adapter whose answers differ.

The adapter (bag-of-words nearest centroid, safetensors on disk) answers in microseconds, so the tests exercise
swaps, batching and the HTTP shape many times over; ``tests/integration/test_serving.py`` serves real encoders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pioneer.registry import FileRegistry, VersionInfo
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier

PROBE = "move money to savings"
"""Version 1 answers ``transfer`` to this text, version 2 ``balance``."""
FLIPPED = {"transfer": "balance", "balance": "transfer"}


@dataclass(frozen=True)
class Toy:
    registry: FileRegistry
    model: str
    v1: str
    v2: str

    def expected(self, version: str) -> str:
        return "transfer" if version == self.v1 else "balance"


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    registry = FileRegistry(tmp_path / "registry", loader=CentroidClassifier.load)
    first = CentroidClassifier().fit(TRAIN)
    second = CentroidClassifier().fit([replace(e, label=FLIPPED[e.label]) for e in TRAIN])
    v1 = registry.register_version("toy", first, VersionInfo()).version
    v2 = registry.register_version("toy", second, VersionInfo(parent=v1)).version
    registry.move_alias("toy", "production", v1, kind="release")
    assert first.predict([PROBE])[0].label == "transfer" and second.predict([PROBE])[0].label == "balance"
    return Toy(registry, "toy", v1, v2)

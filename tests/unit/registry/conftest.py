"""Fixtures of the registry tests: a fitted tiny adapter and a registry in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pioneer.registry import FileRegistry
from tests.unit.registry.tiny_centroid import TRAIN, CentroidClassifier


@pytest.fixture
def fitted() -> CentroidClassifier:
    return CentroidClassifier().fit(TRAIN)


@pytest.fixture
def registry(tmp_path: Path) -> FileRegistry:
    return FileRegistry(tmp_path / "registry", loader=CentroidClassifier.load)

"""AdaptFTRunner construction: what must hold before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pioneer.bench import AdaptFTRunner


def test_a_relative_workdir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Registries record artifact locations as file URIs, which a relative path cannot express.
    monkeypatch.chdir(tmp_path)
    runner = AdaptFTRunner(datasets=Path("datasets"), workdir=Path("bench-results/work"), quick=True)
    assert runner.workdir.is_absolute() and runner.workdir == tmp_path / "bench-results" / "work"


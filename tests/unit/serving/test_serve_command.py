"""``pioneer serve`` refuses what it cannot serve before it touches the disk or the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pioneer.cli.serve import serve
from streams.serving import ServeConfig


@pytest.mark.parametrize("model", ["../../x", "../../../escaped", "a/b", ".hidden", "", "intents\n"])
def test_a_model_name_that_is_not_a_registry_name_is_refused_before_any_directory(tmp_path: Path, model: str) -> None:
    home = tmp_path / "home" / "pioneer"
    home.mkdir(parents=True)
    result = CliRunner().invoke(serve, ["--model", model, "--port", "1", "--broker", "127.0.0.1:1", "--no-follow"],
                                env={"PIONEER_HOME": str(home)})
    assert result.exit_code == 2, result.output
    assert "model" in result.output.lower()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [Path("home"), Path("home/pioneer")]
    with pytest.raises(ValueError, match="model"):
        ServeConfig(model=model)
